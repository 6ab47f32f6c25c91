#!/usr/bin/env bash
# Key creation throughput at 8 concurrent clients, on SQLite and PostgreSQL,
# for this tree and for a baseline commit, in one run.
#
# The baseline ($BASELINE_REF, default 82f0c4b: the last commit whose SQLite
# writer synced with `synchronous = NORMAL`) is built in a worktree under
# $WORK. Each case runs $ROUNDS rounds of $DURATION, alternating baseline
# and current; the figure is the median. The server is pinned to core 0,
# wrk to core 1. Every round starts from a fresh database holding one
# organization (bench/create-common.sh). Run by hand (not by CI). Results:
# docs/benchmarks.md.
set -euo pipefail
WORK=${WORK:-/tmp/keyward-bench-create}
BASELINE_REF=${BASELINE_REF:-82f0c4b}
source "$(dirname "$0")/create-common.sh"

cargo build --release -p keyward >&2
CURRENT=target/release/keyward
if [ ! -d "$WORK/baseline" ]; then
  git worktree add --detach "$WORK/baseline" "$BASELINE_REF" >&2
fi
(cd "$WORK/baseline" && git checkout -q --detach "$BASELINE_REF" \
  && CARGO_TARGET_DIR="$WORK/baseline-target" cargo build --release -p keyward >&2)
BASELINE=$WORK/baseline-target/release/keyward

trap create_cleanup EXIT

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
  echo "| $backend | $b | $c | $(ratio "$b" "$c") | ${base[*]}; ${cur[*]} |"
done
