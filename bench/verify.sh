#!/usr/bin/env bash
# Verification speed against the ceiling of this machine, in one run.
#
# The server is pinned to core 0, wrk to core 1. Measured, each for $DURATION
# at $CONNS connections:
#   (a) bare axum endpoint, fixed JSON body of a verification answer's size, measured first and last (ratios are to the mean of both)
#   (b) POST /v1/verify, 1,000 keys in the store and again with 1,000,000
#       (cycling through up to $HOT distinct keys, cache warmed first)
#   (c) first-time verifications: a fresh server, every request a new key
#   (d) a flood of well-formed unknown keys
#   (e) GET /v1/auth
# Run by hand (not by CI). Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
HOT=${HOT:-1000}
WORK=${WORK:-/tmp/keyward-bench}
T=target/release
mkdir -p "$WORK"
cargo build --release -p keyward -p keyward-bench >&2

seed() { # <count>
  local dir="$WORK/data-$1"
  if [ ! -f "$dir/keys.txt" ]; then
    rm -rf "$dir"
    "$T/seed-keys" "$dir" "$1" "$dir/keys.txt" "$dir/unknown.txt" >&2
  fi
  head -n "$HOT" "$dir/keys.txt" > "$dir/hot.txt"
}

SERVER_PID=
start() { # <port> <command…>: pinned to core 0
  local port=$1; shift
  taskset -c 0 "$@" > "$WORK/server-$port.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && return; sleep 0.1; done
  echo "server on $port did not start" >&2; exit 1
}
stop() { kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true; }
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$SERVER_PID/status"; }

# wrk pinned to core 1; prints "requests/s p99-ms".
load() { # <port> <lua> <keys-file> [duration]
  KEYS_FILE="$3" taskset -c 1 wrk -t1 -c"$CONNS" -d"${4:-$DURATION}" --latency -s "$2" "http://127.0.0.1:$1" > "$WORK/wrk.txt"
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v=v/1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v=v*1000}; print v}' "$WORK/wrk.txt")
  local errors; errors=$(awk '/Non-2xx|Socket errors/' "$WORK/wrk.txt")
  [ -z "$errors" ] || echo "wrk reported: $errors" >&2
  echo "$rps $p99"
}

serve() { # <port> <data-dir>
  start "$1" env KEYWARD_DATA_DIR="$2" "$T/keyward" serve --addr "127.0.0.1:$1"
}

seed 1000
seed 1000000

row() { # <label> <rps> <p99> <rss>
  printf '| %s | %.0f | %.2f | %.2f | %.2f | %s |\n' "$1" "$2" "$3" "$(echo "$2 / $A_RPS" | bc -l)" "$(echo "$3 / $A_P99" | bc -l)" "$4"
}

echo "| case | requests/s | p99 ms | throughput / (a) | p99 / (a) | server RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|"

# (a) the ceiling, body as large as a verification answer. Measured at the
# start and again at the end of the run: on a shared machine the ceiling
# itself moves by ±10 % from minute to minute, and every ratio is against the
# mean of the two.
BODY_SIZE=330
bare() {
  start 18600 "$T/bare" 18600 "$BODY_SIZE"
  load 18600 bench/wrk/verify.lua "$WORK/data-1000/hot.txt" 3s > /dev/null
  load 18600 bench/wrk/verify.lua "$WORK/data-1000/hot.txt"
  stop
}
read -r A1_RPS A1_P99 < <(bare)
A_RPS=$A1_RPS; A_P99=$A1_P99
ROWS=()

for n in 1000 1000000; do
  serve 18601 "$WORK/data-$n"
  load 18601 bench/wrk/verify.lua "$WORK/data-$n/hot.txt" 20s > /dev/null # warm the cache
  read -r RPS P99 < <(load 18601 bench/wrk/verify.lua "$WORK/data-$n/hot.txt")
  ROWS+=("(b) verify, $n keys|$RPS|$P99|$(rss_mib)")
  if [ "$n" = 1000000 ]; then
    read -r RPS P99 < <(load 18601 bench/wrk/auth.lua "$WORK/data-$n/hot.txt")
    ROWS+=("(e) auth, $n keys|$RPS|$P99|$(rss_mib)")
    read -r RPS P99 < <(load 18601 bench/wrk/verify.lua "$WORK/data-$n/unknown.txt")
    ROWS+=("(d) unknown keys, $n keys|$RPS|$P99|$(rss_mib)")
  fi
  stop
done

# (c) cold: a fresh server over 1,000,000 keys; each request a key not seen yet.
serve 18602 "$WORK/data-1000000"
read -r RPS P99 < <(load 18602 bench/wrk/verify.lua "$WORK/data-1000000/keys.txt" 5s)
ROWS+=("(c) first-time verifications|$RPS|$P99|$(rss_mib)")
stop

read -r A2_RPS A2_P99 < <(bare)
A_RPS=$(echo "($A1_RPS + $A2_RPS) / 2" | bc -l)
A_P99=$(echo "($A1_P99 + $A2_P99) / 2" | bc -l)
row "(a) bare axum, first" "$A1_RPS" "$A1_P99" "-"
row "(a) bare axum, last" "$A2_RPS" "$A2_P99" "-"
for r in "${ROWS[@]}"; do
  IFS='|' read -r label rps p99 rss <<< "$r"
  row "$label" "$rps" "$p99" "$rss"
done
