-- POST /v1/verify cycling through the keys in $KEYS_FILE, one per line.
-- Each request is formatted once, on its first use, and sent as it is from
-- then on: formatting a request each time cost wrk as much CPU as a bare
-- server spends answering it, and made wrk, not the server, the bottleneck
-- of the ceiling (docs/benchmarks.md, run 26).
local keys = {}
for line in io.lines(os.getenv("KEYS_FILE")) do keys[#keys + 1] = line end
local formatted = {}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #keys + 1
  local r = formatted[i]
  if not r then
    r = wrk.format(nil, "/v1/verify", nil, '{"key":"' .. keys[i] .. '"}')
    formatted[i] = r
  end
  return r
end
dofile("bench/wrk/histogram.lua")
-- The tail wrk's --latency does not print.
done = function(summary, latency, requests)
  io.write(string.format("p99.9 %d us\n", latency:percentile(99.9)))
  write_histogram(summary, latency)
end
