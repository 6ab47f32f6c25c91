-- POST /v1/verify cycling through the keys in $KEYS_FILE, one per line.
-- A file of up to 100,000 keys, cycled, has each request formatted once, on
-- its first use, and sent as it is from then on: formatting a request each
-- time cost wrk as much CPU as a bare server spends answering it, and made
-- wrk, not the server, set the pace of the ceiling (docs/benchmarks.md,
-- "Who holds the queue"). Larger files, whose keys are sent once each, are
-- formatted as they go: keeping a million requests made Lua's garbage
-- collector stall wrk for tens of milliseconds.
local keys = {}
for line in io.lines(os.getenv("KEYS_FILE")) do keys[#keys + 1] = line end
local keep = #keys <= 100000
local formatted = {}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #keys + 1
  local r = formatted[i]
  if not r then
    r = wrk.format(nil, "/v1/verify", nil, '{"key":"' .. keys[i] .. '"}')
    if keep then formatted[i] = r end
  end
  return r
end
dofile("bench/wrk/histogram.lua")
-- The tail wrk's --latency does not print.
done = function(summary, latency, requests)
  io.write(string.format("p99.9 %d us\n", latency:percentile(99.9)))
  write_histogram(summary, latency)
end
