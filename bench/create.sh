#!/usr/bin/env bash
# Key creation throughput at 8 concurrent clients, on SQLite and PostgreSQL,
# for this tree and for a baseline commit, in one run.
#
# The baseline ($BASELINE_REF, default 82f0c4b: the last commit whose SQLite
# writer synced with `synchronous = NORMAL`) is built in a worktree under
# $WORK. Each case runs $ROUNDS rounds of $DURATION, alternating baseline
# and current; the figure is the median. The server is pinned to core 0,
# wrk to core 1. Every round starts from a fresh database holding one
# organization. Run by hand (not by CI). Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-8}
WORK=${WORK:-/tmp/keyward-bench-create}
BASELINE_REF=${BASELINE_REF:-82f0c4b}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
mkdir -p "$WORK"

cargo build --release -p keyward >&2
CURRENT=target/release/keyward
if [ ! -d "$WORK/baseline" ]; then
  git worktree add --detach "$WORK/baseline" "$BASELINE_REF" >&2
fi
(cd "$WORK/baseline" && git checkout -q --detach "$BASELINE_REF" \
  && CARGO_TARGET_DIR="$WORK/baseline-target" cargo build --release -p keyward >&2)
BASELINE=$WORK/baseline-target/release/keyward

PID=
trap '[ -z "$PID" ] || kill "$PID" 2>/dev/null; psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS keyward_bench_create WITH (FORCE)" 2>/dev/null || true' EXIT

# One round: <binary> <sqlite|postgres>; prints creates/s.
round() {
  local bin=$1 backend=$2 data="$WORK/data" url=()
  rm -rf "$data"
  if [ "$backend" = postgres ]; then
    psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS keyward_bench_create WITH (FORCE)" >&2
    psql -q "$PG/postgres" -c "CREATE DATABASE keyward_bench_create" >&2
    url=(--database-url "$PG/keyward_bench_create")
  fi
  local root
  root=$(KEYWARD_DATA_DIR="$data" KEYWARD_OWNER_PASSWORD="a very long password" \
    "$bin" "${url[@]}" org create --name Bench --owner-email b@example.com --json \
    | sed -E 's/.*"root_key":"([^"]+)".*/\1/')
  KEYWARD_DATA_DIR="$data" taskset -c 0 "$bin" "${url[@]}" serve --addr 127.0.0.1:18700 \
    > "$WORK/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:18700/healthz && break; sleep 0.1; done
  ROOT_KEY=$root taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" -s bench/wrk/create.lua \
    http://127.0.0.1:18700 > "$WORK/wrk.txt"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  local errors; errors=$(awk '/Non-2xx|Socket errors/' "$WORK/wrk.txt")
  # A refused create is not a create: the figure would be meaningless.
  [ -z "$errors" ] || { echo "wrk reported: $errors" >&2; exit 1; }
  awk '/Requests\/sec/ {printf "%.0f\n", $2}' "$WORK/wrk.txt"
}

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

echo "| backend | baseline ($BASELINE_REF) creates/s | current creates/s | current / baseline | rounds (baseline; current) |"
echo "|---|---:|---:|---:|---|"
for backend in sqlite postgres; do
  base=() cur=()
  for _ in $(seq "$ROUNDS"); do
    # Plain assignments, so that a failed round stops the script.
    b=$(round "$BASELINE" "$backend")
    c=$(round "$CURRENT" "$backend")
    base+=("$b") cur+=("$c")
  done
  b=$(printf '%s\n' "${base[@]}" | median)
  c=$(printf '%s\n' "${cur[@]}" | median)
  echo "| $backend | $b | $c | $(awk -v b="$b" -v c="$c" 'BEGIN {printf "%.2f", c/b}') | ${base[*]}; ${cur[*]} |"
done
