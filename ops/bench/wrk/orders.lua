-- POST /api/v1/orders with 3 lines, the table (token) rotating on every request. Every second order's
-- first line is an item with options (a required choice and two toppings), as a real night's mix.
package.path = package.path .. ";" .. os.getenv("BENCH_WRK_DIR") .. "/?.lua"
require "report"
local tokens, items, choices, counter = {}, {}, {}, 0

function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
  for id in string.gmatch(os.getenv("BENCH_ITEMS"), "%d+") do items[#items + 1] = id end
  for item, options in string.gmatch(os.getenv("BENCH_OPTIONS") or "", "(%d+):([%d,]+)") do
    choices[#choices + 1] = '{"menu_item_id":' .. item .. ',"quantity":1,"options":[' .. options .. ']}'
  end
  counter = math.random(1, #tokens)
end

function request()
  counter = counter % #tokens + 1
  local a, b, c = items[counter % #items + 1], items[(counter + 7) % #items + 1], items[(counter + 19) % #items + 1]
  local first = '{"menu_item_id":' .. a .. ',"quantity":1}'
  if #choices > 0 and counter % 2 == 0 then first = choices[counter % #choices + 1] end
  local body = '{"items":[' .. first .. ',{"menu_item_id":' .. b ..
               ',"quantity":2},{"menu_item_id":' .. c .. ',"quantity":1}]}'
  return wrk.format("POST", "/api/v1/orders",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tokens[counter]}, body)
end

done = report
