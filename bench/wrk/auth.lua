-- GET /v1/auth with `Authorization: Bearer <key>`, cycling through the keys
-- in $KEYS_FILE (see cycle.lua).
dofile("bench/wrk/cycle.lua")
request = cycle(function(key)
  return wrk.format("GET", "/v1/auth", { ["Authorization"] = "Bearer " .. key }, nil)
end)
dofile("bench/wrk/histogram.lua")
done = function(summary, latency, requests) write_histogram(summary, latency) end
