#!/usr/bin/env bash
# Verification speed against the ceiling of this machine, in one run.
#
# The server is pinned to core 0, wrk to core 1. Measured, each for $DURATION
# at $CONNS connections:
#   (a) bare axum endpoint, fixed JSON body of a verification answer's size,
#       measured right before and right after every case below; each case's
#       ratios are to the mean of its two
#   (b) POST /v1/verify, 1,000 keys in the store and again with 1,000,000
#       (cycling through up to $HOT distinct keys, cache warmed first)
#   (c) first-time verifications: a fresh server, every request a new key
#   (d) a flood of well-formed unknown keys (100,000, cycled): its first pass,
#       then the flood repeating
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

# Servers are pinned to core 0, wrk to core 1. The bare server runs the
# whole time (idle while another case is measured).
start() { # <port> <command…>; prints the pid
  local port=$1; shift
  taskset -c 0 "$@" > "$WORK/server-$port.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && { echo "$pid"; return; }; sleep 0.1; done
  echo "server on $port did not start" >&2; exit 1
}
stop() { # <pid>: not this shell's child (started in a subshell), so poll
  kill "$1" 2>/dev/null || true
  while kill -0 "$1" 2>/dev/null; do sleep 0.1; done
}
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

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

serve() { # <port> <data-dir>; prints the pid
  start "$1" env KEYWARD_DATA_DIR="$2" "$T/keyward" serve --addr "127.0.0.1:$1"
}

seed 1000
seed 1000000

# (a), the ceiling: a body as large as a verification answer. On a shared
# machine the ceiling itself moves by 10 % or more from minute to minute, so
# every case is measured between two measurements of (a), same Lua script and
# keys, and compared with their mean.
BODY_SIZE=330
BARE=$(start 18600 "$T/bare" 18600 "$BODY_SIZE")
load 18600 bench/wrk/verify.lua "$WORK/data-1000/hot.txt" 3s > /dev/null

echo "| case | requests/s | p99 ms | (a) requests/s | (a) p99 ms | throughput / (a) | p99 / (a) | server RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
row() { # <label> <rps> <p99> <(a) rps before> <(a) p99 before> <(a) rps after> <(a) p99 after> <rss>
  local a ap; a=$(echo "($4 + $6) / 2" | bc -l); ap=$(echo "($5 + $7) / 2" | bc -l)
  printf '| %s | %.0f | %.2f | %.0f | %.2f | %.2f | %.2f | %s |\n' "$1" "$2" "$3" "$a" "$ap" \
    "$(echo "$2 / $a" | bc -l)" "$(echo "$3 / $ap" | bc -l)" "$8"
}
measure() { # <label> <port> <pid> <lua> <keys-file> [duration]
  local a1 a1p rps p99 rss a2 a2p
  read -r a1 a1p < <(load 18600 "$4" "$5")
  read -r rps p99 < <(load "$2" "$4" "$5" "${6:-$DURATION}")
  rss=$(rss_mib "$3")
  read -r a2 a2p < <(load 18600 "$4" "$5")
  row "$1" "$rps" "$p99" "$a1" "$a1p" "$a2" "$a2p" "$rss"
}

for n in 1000 1000000; do
  KW=$(serve 18601 "$WORK/data-$n")
  load 18601 bench/wrk/verify.lua "$WORK/data-$n/hot.txt" 20s > /dev/null # warm the cache
  measure "(b) verify, $n keys" 18601 "$KW" bench/wrk/verify.lua "$WORK/data-$n/hot.txt"
  if [ "$n" = 1000000 ]; then
    measure "(e) auth, $n keys" 18601 "$KW" bench/wrk/auth.lua "$WORK/data-$n/hot.txt"
    # Each unknown key's first sight reaches storage; the negative cache
    # answers the repeats (for 60 s). One flood: its first pass, then its
    # repeats.
    unknown="$WORK/data-$n/unknown.txt"
    read -r A1 A1P < <(load 18600 bench/wrk/verify.lua "$unknown")
    read -r FIRST FIRST_P99 < <(load 18601 bench/wrk/verify.lua "$unknown" 6s)
    read -r AGAIN AGAIN_P99 < <(load 18601 bench/wrk/verify.lua "$unknown")
    RSS=$(rss_mib "$KW")
    read -r A2 A2P < <(load 18600 bench/wrk/verify.lua "$unknown")
    row "(d) unknown keys, first pass" "$FIRST" "$FIRST_P99" "$A1" "$A1P" "$A2" "$A2P" "$RSS"
    row "(d) unknown keys, repeated" "$AGAIN" "$AGAIN_P99" "$A1" "$A1P" "$A2" "$A2P" "$RSS"
  fi
  stop "$KW"
done

# (c) cold: a fresh server over 1,000,000 keys; each request a key not seen yet.
KW=$(serve 18602 "$WORK/data-1000000")
measure "(c) first-time verifications" 18602 "$KW" bench/wrk/verify.lua "$WORK/data-1000000/keys.txt" 5s
stop "$KW"
stop "$BARE"
