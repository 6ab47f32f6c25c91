-- GET /v1/auth with `Authorization: Bearer <key>`, cycling through $KEYS_FILE.
local keys = {}
for line in io.lines(os.getenv("KEYS_FILE")) do keys[#keys + 1] = line end
local i = 0
request = function()
  i = i % #keys + 1
  return wrk.format("GET", "/v1/auth", { ["Authorization"] = "Bearer " .. keys[i] }, nil)
end
dofile("bench/wrk/histogram.lua")
done = function(summary, latency, requests) write_histogram(summary, latency) end
