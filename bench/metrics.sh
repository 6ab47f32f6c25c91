#!/usr/bin/env bash
# The cost of metrics on the verification path, in one run: POST /v1/verify
# on two servers over copies of the same 1,000-key database, one with
# metrics (the default) and one with --no-metrics, measured in alternating
# rounds at $CONNS connections, the server pinned to core 0 and wrk to core 1,
# each after a 10 s warm-up. Each round measures both servers, the one that
# goes first changing from round to round (on, off; off, on; …), so a drift
# of the machine does not favour either. Prints each round with its own
# ratio, the medians, and the median of the rounds' ratios.
# Then, unless CALLGRIND=0, the user-space instructions per request of each
# server under valgrind's callgrind, which the machine's noise does not blur:
# counters zeroed after a warm-up, $CG_DURATION of load, counters dumped.
# Run by hand (not by CI). Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-11}
CONNS=${CONNS:-32}
WORK=${WORK:-/tmp/keyward-bench}
CALLGRIND=${CALLGRIND:-1}
CG_DURATION=${CG_DURATION:-10s}
T=target/release
mkdir -p "$WORK"
cargo build --release -p keyward -p keyward-bench >&2
data=$WORK/data-1000
if [ ! -f "$data/keys.txt" ]; then
  rm -rf "$data"
  "$T/seed-keys" "$data" 1000 "$data/keys.txt" "$data/unknown.txt" >&2
fi
head -n 1000 "$data/keys.txt" > "$data/hot.txt"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
serve() { # <port> <data-dir> [flags…]
  local port=$1 dir=$2; shift 2
  rm -rf "$dir"; cp -r "$data" "$dir"
  taskset -c 0 env KEYWARD_DATA_DIR="$dir" "$T/keyward" serve --addr "127.0.0.1:$port" "$@" \
    > "$dir.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && return; sleep 0.1; done
  echo "server on $port did not start" >&2; exit 1
}
load() { # <port> [duration]: prints "requests/s p99-ms"
  KEYS_FILE="$data/hot.txt" taskset -c 1 wrk -t1 -c"$CONNS" -d"${2:-$DURATION}" --latency \
    -s bench/wrk/verify.lua "http://127.0.0.1:$1" > "$WORK/wrk.txt"
  awk '/Requests\/sec/ {rps=$2} $1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v=v/1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v=v*1000}; p99=v} END {print rps, p99}' "$WORK/wrk.txt"
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

serve 18621 "$WORK/metrics-on"
serve 18622 "$WORK/metrics-off" --no-metrics
load 18621 10s > /dev/null
load 18622 10s > /dev/null
on=() off=() on99=() off99=() ratios=()
echo "| round | metrics on, requests/s | p99 ms | metrics off, requests/s | p99 ms | on / off |"
echo "|---|---:|---:|---:|---:|---:|"
for ((i = 1; i <= ROUNDS; i++)); do
  if ((i % 2)); then
    read -r a a99 < <(load 18621)
    read -r b b99 < <(load 18622)
  else
    read -r b b99 < <(load 18622)
    read -r a a99 < <(load 18621)
  fi
  ratio=$(echo "$a / $b" | bc -l)
  on+=("$a"); on99+=("$a99"); off+=("$b"); off99+=("$b99"); ratios+=("$ratio")
  printf '| %d | %.0f | %.2f | %.0f | %.2f | %.3f |\n' "$i" "$a" "$a99" "$b" "$b99" "$ratio"
done
m_on=$(echo "${on[*]}" | median); m_off=$(echo "${off[*]}" | median)
printf '| median | %.0f | %.2f | %.0f | %.2f | %.3f |\n' "$m_on" "$(echo "${on99[*]}" | median)" \
  "$m_off" "$(echo "${off99[*]}" | median)" "$(echo "$m_on / $m_off" | bc -l)"
printf '\nMedian of the rounds'"'"' own ratios: %.3f\n' "$(echo "${ratios[*]}" | median)"

[ "$CALLGRIND" = 1 ] || exit 0
kill "${pids[@]}"; wait 2>/dev/null || true; pids=()
# instructions <port> <name> [flags…]: prints instructions per request
instructions() {
  local port=$1 name=$2; shift 2
  local dir=$WORK/cg-$name out=$WORK/cg-$name.out
  rm -rf "$dir" "$out"*; cp -r "$data" "$dir"
  taskset -c 0 env KEYWARD_DATA_DIR="$dir" valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$T/keyward" serve --addr "127.0.0.1:$port" "$@" > "$dir.log" 2>&1 &
  local pid=$!
  for _ in $(seq 600); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  load "$port" 5s > /dev/null
  callgrind_control -z "$pid" > /dev/null
  load "$port" "$CG_DURATION" > /dev/null
  local requests; requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
  callgrind_control -d "$pid" > /dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local ir; ir=$(cat "$out".* | awk '/^(summary|totals):/ {print $2; exit}')
  echo $((ir / requests))
}
ir_on=$(instructions 18623 on)
ir_off=$(instructions 18624 off --no-metrics)
echo
echo "| server | instructions per request (user space, callgrind) |"
echo "|---|---:|"
echo "| metrics on | $ir_on |"
echo "| metrics off | $ir_off |"
printf '| on − off | %d (%.1f %%) |\n' $((ir_on - ir_off)) "$(echo "($ir_on - $ir_off) * 100 / $ir_off" | bc -l)"
