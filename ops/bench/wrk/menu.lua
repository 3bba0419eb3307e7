-- GET /api/v1/menu; with BENCH_ETAG set, as a revalidation (If-None-Match → 304).
package.path = package.path .. ";" .. os.getenv("BENCH_WRK_DIR") .. "/?.lua"
require "report"
local tokens, counter = {}, 0

function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
  counter = math.random(1, #tokens)
end

function request()
  counter = counter % #tokens + 1
  local headers = {["Authorization"] = "Bearer " .. tokens[counter]}
  local etag = os.getenv("BENCH_ETAG")
  if etag ~= nil and etag ~= "" then headers["If-None-Match"] = etag end
  return wrk.format("GET", "/api/v1/menu", headers)
end

done = report
