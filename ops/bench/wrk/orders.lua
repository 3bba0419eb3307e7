-- POST /api/v1/orders with 3 lines, the table (token) rotating on every request.
package.path = package.path .. ";" .. os.getenv("BENCH_WRK_DIR") .. "/?.lua"
require "report"
local tokens, items, counter = {}, {}, 0

function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
  for id in string.gmatch(os.getenv("BENCH_ITEMS"), "%d+") do items[#items + 1] = id end
  counter = math.random(1, #tokens)
end

function request()
  counter = counter % #tokens + 1
  local a, b, c = items[counter % #items + 1], items[(counter + 7) % #items + 1], items[(counter + 19) % #items + 1]
  local body = '{"items":[{"menu_item_id":' .. a .. ',"quantity":1},{"menu_item_id":' .. b ..
               ',"quantity":2},{"menu_item_id":' .. c .. ',"quantity":1}]}'
  return wrk.format("POST", "/api/v1/orders",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tokens[counter]}, body)
end

done = report
