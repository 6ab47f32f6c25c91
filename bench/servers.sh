# Sourced by bench/verify.sh and bench/pace.sh: servers pinned to core 0,
# stopped however the script ends, and the percentiles of merged wrk
# histograms. Needs $WORK and $PIDS (the file listing the servers' pids).

rm -f "$PIDS"
trap 'xargs -r kill < "$PIDS" 2>/dev/null; rm -f "$PIDS"' EXIT
start() { # <port> <command…>; prints the pid
  local port=$1; shift
  taskset -c 0 "$@" > "$WORK/server-$port.log" 2>&1 &
  local pid=$!
  echo "$pid" >> "$PIDS"
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && { echo "$pid"; return; }; sleep 0.1; done
  echo "server on $port did not start" >&2; exit 1
}
stop() { # <pid>: not this shell's child (started in a subshell), so poll
  kill "$1" 2>/dev/null || true
  while kill -0 "$1" 2>/dev/null; do sleep 0.1; done
  sed -i "/^$1\$/d" "$PIDS"
}

# quantiles <histogram-file> <q…>: "requests/s" and the latency in µs at each
# quantile q (0.99 for the p99) of every run appended to the file
# (bench/wrk/histogram.lua).
quantiles() {
  local file=$1; shift
  printf '%s ' "$(awk '$1 == "R" {n += $2; t += $3} END {printf "%.0f", n / t * 1e6}' "$file")"
  awk '$1 == "L" {print $2, $3}' "$file" | sort -n | awk -v qs="$*" '
    {v[NR] = $1; c[NR] = $2; total += $2}
    END {
      n = split(qs, q, " ")
      for (j = 1; j <= n; j++) {
        run = 0
        for (i = 1; i <= NR; i++) { run += c[i]; if (run >= q[j] * total) { printf "%s%d", (j > 1 ? " " : ""), v[i]; break } }
      }
      print ""
    }'
}
