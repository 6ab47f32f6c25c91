#!/usr/bin/env bash
# What a server's pace alone does to its latency at 32 connections: the
# ceiling (a), Keyward's POST /v1/verify over 1,000 keys (b), and the ceiling
# slowed by $SPIN nanoseconds of work per request (a+), measured in rounds of
# 1 s slices taking turns, each server's slices merged into one latency
# distribution (bench/wrk/histogram.lua). Prints requests/s and the 50th,
# 90th, 99th and 99.9th percentiles in microseconds, per round.
# Run by hand (not by CI). Results: docs/benchmarks.md, "Who holds the queue".
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SLICES=${SLICES:-10}
CONNS=${CONNS:-32}
SPIN=${SPIN:-1500}
LUA=${LUA:-bench/wrk/verify.lua}
WORK=${WORK:-/tmp/keyward-bench}
T=target/release
DATA="$WORK/data-1000"
cargo build --release -p keyward -p keyward-bench >&2
if [ ! -f "$DATA/keys.txt" ]; then
  rm -rf "$DATA"
  "$T/seed-keys" "$DATA" 1000 "$DATA/keys.txt" "$DATA/unknown.txt" >&2
fi

PIDS="$WORK/pace-pids"
. bench/servers.sh
start 18610 "$T/bare" 18610 330 > /dev/null
start 18611 env KEYWARD_DATA_DIR="$DATA" "$T/keyward" serve --addr 127.0.0.1:18611 > /dev/null
start 18612 "$T/bare" 18612 330 "$SPIN" > /dev/null
names=([18610]="(a) ceiling" [18611]="(b) verify" [18612]="(a+) ceiling + ${SPIN} ns")
ports=(18610 18611 18612)

run() { # <port> <duration> [histogram-file]
  env ${3:+HIST_FILE="$3"} KEYS_FILE="$DATA/keys.txt" taskset -c 1 \
    wrk -t1 -c"$CONNS" -d"$2" -s "$LUA" "http://127.0.0.1:$1" > /dev/null
}
for p in "${ports[@]}"; do run "$p" 5s; done # warm up (and fill Keyward's cache)

echo "| round | server | requests/s | p50 µs | p90 µs | p99 µs | p99.9 µs |"
echo "|---:|---|---:|---:|---:|---:|---:|"
for ((r = 1; r <= ROUNDS; r++)); do
  for p in "${ports[@]}"; do : > "$WORK/pace-hist-$p"; done
  for ((s = 0; s < SLICES; s++)); do
    for ((k = 0; k < ${#ports[@]}; k++)); do
      p=${ports[$(((k + s) % ${#ports[@]}))]}
      run "$p" 1s "$WORK/pace-hist-$p"
    done
  done
  for p in "${ports[@]}"; do
    read -r rps p50 p90 p99 p999 < <(quantiles "$WORK/pace-hist-$p" 0.5 0.9 0.99 0.999)
    echo "| $r | ${names[$p]} | $rps | $p50 | $p90 | $p99 | $p999 |"
  done
done
