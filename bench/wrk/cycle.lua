-- cycle(format): a request function cycling through the keys in $KEYS_FILE,
-- one per line, `format(key)` building each request. A file of up to 100,000
-- keys has each request formatted once, on its first use, and sent as it is
-- from then on: formatting a request each time cost wrk as much CPU as a bare
-- server spends answering it, and made wrk, not the server, set the pace of
-- the ceiling (docs/benchmarks.md, "Who holds the queue"). Larger files,
-- whose keys are sent once each, are formatted as they go: keeping a million
-- requests made Lua's garbage collector stall wrk for tens of milliseconds.
function cycle(format)
  local keys = {}
  for line in io.lines(os.getenv("KEYS_FILE")) do keys[#keys + 1] = line end
  local keep = #keys <= 100000
  local formatted = {}
  local i = 0
  return function()
    i = i % #keys + 1
    local r = formatted[i]
    if not r then
      r = format(keys[i])
      if keep then formatted[i] = r end
    end
    return r
  end
end
