-- POST /v1/verify cycling through the keys in $KEYS_FILE (see cycle.lua).
dofile("bench/wrk/cycle.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = cycle(function(key)
  return wrk.format(nil, "/v1/verify", nil, '{"key":"' .. key .. '"}')
end)
dofile("bench/wrk/histogram.lua")
-- The tail wrk's --latency does not print.
done = function(summary, latency, requests)
  io.write(string.format("p99.9 %d us\n", latency:percentile(99.9)))
  write_histogram(summary, latency)
end
