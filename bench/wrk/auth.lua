-- GET /v1/auth with `Authorization: Bearer <key>`, cycling through $KEYS_FILE;
-- requests formatted once when the file holds up to 100,000 keys (see
-- verify.lua).
local keys = {}
for line in io.lines(os.getenv("KEYS_FILE")) do keys[#keys + 1] = line end
local keep = #keys <= 100000
local formatted = {}
local i = 0
request = function()
  i = i % #keys + 1
  local r = formatted[i]
  if not r then
    r = wrk.format("GET", "/v1/auth", { ["Authorization"] = "Bearer " .. keys[i] }, nil)
    if keep then formatted[i] = r end
  end
  return r
end
dofile("bench/wrk/histogram.lua")
done = function(summary, latency, requests) write_histogram(summary, latency) end
