-- GET /v1/auth with `Authorization: Bearer <key>`, cycling through $KEYS_FILE;
-- each request formatted once, on its first use (see verify.lua).
local keys = {}
for line in io.lines(os.getenv("KEYS_FILE")) do keys[#keys + 1] = line end
local formatted = {}
local i = 0
request = function()
  i = i % #keys + 1
  local r = formatted[i]
  if not r then
    r = wrk.format("GET", "/v1/auth", { ["Authorization"] = "Bearer " .. keys[i] }, nil)
    formatted[i] = r
  end
  return r
end
dofile("bench/wrk/histogram.lua")
done = function(summary, latency, requests) write_histogram(summary, latency) end
