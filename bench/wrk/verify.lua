-- POST /v1/verify cycling through the keys in $KEYS_FILE, one per line.
local keys = {}
for line in io.lines(os.getenv("KEYS_FILE")) do keys[#keys + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #keys + 1
  return wrk.format(nil, "/v1/verify", nil, '{"key":"' .. keys[i] .. '"}')
end
dofile("bench/wrk/histogram.lua")
-- The tail wrk's --latency does not print.
done = function(summary, latency, requests)
  io.write(string.format("p99.9 %d us\n", latency:percentile(99.9)))
  write_histogram(summary, latency)
end
