#!/usr/bin/env bash
# The cost of metrics on the verification path, in one run, three ways:
#
# 1. Throughput: POST /v1/verify on two servers over copies of the same
#    1,000-key database, one with metrics (the default) and one with
#    --no-metrics, at $CONNS connections, the server pinned to core 0 and wrk
#    to core 1, each after a 10 s warm-up. Each round measures both, the one
#    that goes first changing from round to round (on, off; off, on; …) so a
#    drift of the machine favours neither. Each round also reads the server's
#    own CPU time (/proc/<pid>/stat) per request: other programs taking core 0
#    lower a round's throughput, not the CPU a request costs, so that ratio
#    is the steadier measure of capacity on this shared machine.
# 2. The counting alone (criterion, bench/benches/metrics.rs), in ns, and as
#    a share of the CPU time of a request measured in part 1.
# 3. Unless CALLGRIND=0, the user-space instructions per request of each
#    server under valgrind's callgrind, which no noise blurs: counters zeroed
#    after a warm-up, $CG_DURATION of load, counters dumped.
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
TICK=$(getconf CLK_TCK)
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
serve() { # <port> <data-dir> [flags…]; sets SERVED to the pid
  local port=$1 dir=$2; shift 2
  rm -rf "$dir"; cp -r "$data" "$dir"
  taskset -c 0 env KEYWARD_DATA_DIR="$dir" "$T/keyward" serve --addr "127.0.0.1:$port" "$@" \
    > "$dir.log" 2>&1 &
  SERVED=$!
  pids+=("$SERVED")
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && return; sleep 0.1; done
  echo "server on $port did not start" >&2; exit 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system
# load <port> <pid> [duration]: prints "requests/s p99-ms cpu-µs-per-request"
load() {
  local before; before=$(cpu_ticks "$2")
  KEYS_FILE="$data/hot.txt" taskset -c 1 wrk -t1 -c"$CONNS" -d"${3:-$DURATION}" --latency \
    -s bench/wrk/verify.lua "http://127.0.0.1:$1" > "$WORK/wrk.txt"
  local ticks=$(($(cpu_ticks "$2") - before))
  awk -v ticks="$ticks" -v hz="$TICK" '/Requests\/sec/ {rps=$2} / requests in / {n=$1}
    $1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v=v/1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v=v*1000}; p99=v}
    END {print rps, p99, ticks / hz * 1e6 / n}' "$WORK/wrk.txt"
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

serve 18621 "$WORK/metrics-on"; ON=$SERVED
serve 18622 "$WORK/metrics-off" --no-metrics; OFF=$SERVED
load 18621 "$ON" 10s > /dev/null
load 18622 "$OFF" 10s > /dev/null
on=() off=() on99=() off99=() oncpu=() offcpu=() ratios=() cpuratios=()
echo "| round | metrics on, requests/s | p99 ms | CPU µs per request | metrics off, requests/s | p99 ms | CPU µs per request | throughput on / off | CPU off / on |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for ((i = 1; i <= ROUNDS; i++)); do
  if ((i % 2)); then
    read -r a a99 acpu < <(load 18621 "$ON")
    read -r b b99 bcpu < <(load 18622 "$OFF")
  else
    read -r b b99 bcpu < <(load 18622 "$OFF")
    read -r a a99 acpu < <(load 18621 "$ON")
  fi
  ratio=$(echo "$a / $b" | bc -l); cpuratio=$(echo "$bcpu / $acpu" | bc -l)
  on+=("$a"); on99+=("$a99"); oncpu+=("$acpu"); ratios+=("$ratio")
  off+=("$b"); off99+=("$b99"); offcpu+=("$bcpu"); cpuratios+=("$cpuratio")
  printf '| %d | %.0f | %.2f | %.2f | %.0f | %.2f | %.2f | %.3f | %.3f |\n' \
    "$i" "$a" "$a99" "$acpu" "$b" "$b99" "$bcpu" "$ratio" "$cpuratio"
done
m_on=$(echo "${on[*]}" | median); m_off=$(echo "${off[*]}" | median)
c_on=$(echo "${oncpu[*]}" | median); c_off=$(echo "${offcpu[*]}" | median)
printf '| median | %.0f | %.2f | %.2f | %.0f | %.2f | %.2f | %.3f | %.3f |\n' \
  "$m_on" "$(echo "${on99[*]}" | median)" "$c_on" "$m_off" "$(echo "${off99[*]}" | median)" "$c_off" \
  "$(echo "$m_on / $m_off" | bc -l)" "$(echo "$c_off / $c_on" | bc -l)"
printf '\nMedian of the rounds'"'"' own ratios: throughput %.3f, CPU per request %.3f\n' \
  "$(echo "${ratios[*]}" | median)" "$(echo "${cpuratios[*]}" | median)"
kill "${pids[@]}"; wait 2>/dev/null || true; pids=()

# 2. The counting alone.
cargo bench -p keyward-bench --bench metrics > "$WORK/criterion.txt" 2>&1
ns() { # <benchmark name>: the median estimate, in ns
  awk -v name="$1" '$0 ~ name {found=1} found && /time:/ {
      s=$0; sub(/.*\[/, "", s); split(s, f, " "); v=f[3]; u=f[4]
      if (u == "µs") v *= 1000; if (u == "ps") v /= 1000; print v; exit}' "$WORK/criterion.txt"
}
ns_on=$(ns "metrics on"); ns_off=$(ns "metrics off")
echo
echo "| counting a verification (criterion) | ns |"
echo "|---|---:|"
echo "| metrics off | $ns_off |"
echo "| metrics on | $ns_on |"
for part in "two clock reads" "a histogram observation" "a counter"; do echo "| of which $part | $(ns "$part") |"; done
printf '| on − off, as a share of a request'"'"'s CPU time with metrics off (%.2f µs) | %.2f %% |\n' \
  "$c_off" "$(echo "($ns_on - $ns_off) / ($c_off * 1000) * 100" | bc -l)"

# 3. Instructions.
[ "$CALLGRIND" = 1 ] || exit 0
# instructions <port> <name> [flags…]: prints instructions per request
instructions() {
  local port=$1 name=$2; shift 2
  local dir=$WORK/cg-$name out=$WORK/cg-$name.out
  rm -rf "$dir" "$out"*; cp -r "$data" "$dir"
  taskset -c 0 env KEYWARD_DATA_DIR="$dir" valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$T/keyward" serve --addr "127.0.0.1:$port" "$@" > "$dir.log" 2>&1 &
  local pid=$!
  for _ in $(seq 600); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  load "$port" "$pid" 5s > /dev/null
  callgrind_control -z "$pid" > /dev/null
  load "$port" "$pid" "$CG_DURATION" > /dev/null
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
