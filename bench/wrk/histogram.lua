-- Appends this run's request count, duration and latency histogram to
-- $HIST_FILE, when set, so that runs can be merged into one distribution:
--   R <requests> <duration µs>
--   L <latency µs> <count>     (one line per distinct latency)
function write_histogram(summary, latency)
  local path = os.getenv("HIST_FILE")
  if not path then return end
  local f = assert(io.open(path, "a"))
  f:write(string.format("R %d %d\n", summary.requests, summary.duration))
  for j = 1, #latency do
    local value, count = latency(j)
    f:write(string.format("L %d %d\n", value, count))
  end
  f:close()
end
