#!/usr/bin/env bash
# Verification speed against the ceiling of this machine, in one run.
#
# The server is pinned to core 0, wrk to core 1. Measured at $CONNS
# connections, each case in $ROUNDS rounds of $DURATION against the ceiling
# measured with it:
#   (a) bare axum endpoint, fixed JSON body of a verification answer's size
#   (a') a second one, measured against (a) like the cases: the noise floor
#   (b) POST /v1/verify, 1,000 keys in the store and again with 1,000,000
#       (cycling through up to $HOT distinct keys, cache warmed first)
#   (c) first-time verifications: a fresh server each round, every request a
#       key nobody verified before in this run
#   (d) a flood of well-formed unknown keys: every request a key never sent
#       before, then 100,000 keys repeating
#   (e) GET /v1/auth
# In (b), (e) and (d) repeated, a round is $SLICES slices of the case and as
# many of (a), taking turns (who goes first alternates), and each server's
# requests of the round are merged into one latency distribution: the case
# and its ceiling see the same moments of the machine, which is shared with
# other services whose bursts can double a p99 for a second. In (c) and (d)
# first sight, which must not send a key twice, a round is one run of the
# case between two of (a), and (a) is their mean.
# Each figure is the median of its rounds, and each ratio compares it with
# the median of (a); the last two columns list each round's own throughput
# ratio and p99 ratio. A second table lists, for the sliced cases, the time
# the host took the cores away (steal) during each round's slices of the
# case and of (a).
# Run by hand (not by CI). Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
SLICES=${SLICES:-5}
CONNS=${CONNS:-32}
HOT=${HOT:-1000}
# SIZES=1000 measures (a) and (b) over 1,000 keys only, without seeding the
# 1,000,000-key database (about 17 minutes) that (b), (c), (d) and (e) use.
SIZES=${SIZES:-1000 1000000}
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
PIDS="$WORK/pids"
. bench/servers.sh
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

for n in $SIZES; do seed "$n"; done

# (a), the ceiling: a body as large as a verification answer.
BODY_SIZE=330
BARE=$(start 18600 "$T/bare" 18600 "$BODY_SIZE")
load 18600 bench/wrk/verify.lua "$WORK/data-1000/hot.txt" 3s > /dev/null

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

echo "| case | requests/s | p99 ms | (a) requests/s | (a) p99 ms | throughput / (a) | p99 / (a) | server RSS MiB | each round / (a) | each round's p99 / (a) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"
# row <label> <rss> <case rps…> / <case p99…> / <(a) rps…> / <(a) p99…>,
# with one (a) figure for each round of the case.
row() {
  local label=$1 rss=$2; shift 2
  local lists; lists=$(echo "$*" | tr '/' '\n')
  local rps p99 arps ap99
  read -r rps p99 arps ap99 < <(echo "$lists" | while read -r l; do echo "$l" | median; done | paste -sd' ')
  local rounds="" tails="" r=($(echo "$lists" | sed -n 1p)) a=($(echo "$lists" | sed -n 3p)) i
  local p=($(echo "$lists" | sed -n 2p)) ap=($(echo "$lists" | sed -n 4p))
  for i in "${!r[@]}"; do
    rounds+=$(printf '%.2f ' "$(echo "${r[$i]} / ${a[$i]}" | bc -l)")
    tails+=$(printf '%.2f ' "$(echo "${p[$i]} / ${ap[$i]}" | bc -l)")
  done
  printf '| %s | %.0f | %.2f | %.0f | %.2f | %.2f | %.2f | %s | %s| %s|\n' "$label" "$rps" "$p99" "$arps" "$ap99" \
    "$(echo "$rps / $arps" | bc -l)" "$(echo "$p99 / $ap99" | bc -l)" "$rss" "$rounds" "$tails"
}
# between <v0> <v1> … <vn>: the n means of neighbours, for cases measured
# between two runs of (a).
between() {
  local v=("$@") i
  for ((i = 0; i + 1 < ${#v[@]}; i++)); do echo "(${v[$i]} + ${v[$((i + 1))]}) / 2" | bc -l; done | paste -sd' '
}
# merged <histogram-file>: "requests/s p99-ms p99.9-ms steal-ms" of every run
# appended to it (bench/wrk/histogram.lua; steal from slice).
merged() {
  local rps p99 p999 steal
  read -r rps p99 p999 < <(quantiles "$1" 0.99 0.999)
  steal=$(awk '$1 == "S" {s += $2} END {print s + 0}' "$1")
  printf '%s %.3f %.3f %s\n' "$rps" "$(echo "$p99 / 1000" | bc -l)" "$(echo "$p999 / 1000" | bc -l)" "$steal"
}
# measure <label> <port> <pid> <lua> <keys-file>: rounds of slices, the case
# and (a) taking turns.
SLICE=$((${DURATION%s} / SLICES))s
[ "$SLICE" != 0s ] || { echo "DURATION must be at least SLICES seconds" >&2; exit 1; }
# The time the host kept this machine's two cores from running, in ms: the
# steal column of /proc/stat, in ticks of 10 ms.
steal_ms() { awk '/^cpu[01] / {s += $9} END {print s * 10}' /proc/stat; }
slice() { # <histogram-file> <port> <lua> <keys-file>
  local before; before=$(steal_ms)
  HIST_FILE="$1" KEYS_FILE="$4" taskset -c 1 wrk -t1 -c"$CONNS" -d"$SLICE" -s "$3" "http://127.0.0.1:$2" > /dev/null
  echo "S $(($(steal_ms) - before))" >> "$1"
}
measure() {
  local rps=() p99=() arps=() ap99=() steal=() asteal=() x y z i s
  for ((i = 0; i < ROUNDS; i++)); do
    : > "$WORK/hist-a"; : > "$WORK/hist-case"
    for ((s = 0; s < SLICES; s++)); do
      if (((s + i) % 2)); then
        slice "$WORK/hist-a" 18600 "$4" "$5"
        slice "$WORK/hist-case" "$2" "$4" "$5"
      else
        slice "$WORK/hist-case" "$2" "$4" "$5"
        slice "$WORK/hist-a" 18600 "$4" "$5"
      fi
    done
    read -r x y _ z < <(merged "$WORK/hist-a"); arps+=("$x"); ap99+=("$y"); asteal+=("$z")
    read -r x y _ z < <(merged "$WORK/hist-case"); rps+=("$x"); p99+=("$y"); steal+=("$z")
  done
  row "$1" "$(rss_mib "$3")" "${rps[*]}" / "${p99[*]}" / "${arps[*]}" / "${ap99[*]}"
  echo "| $1 | ${steal[*]} | ${asteal[*]} |" >> "$WORK/steal.md"
}
# The steal of each round, after the table: a round whose ratio the host
# decided shows here.
print_steal() {
  echo
  echo "| case | host steal per round in the case's slices, ms | in (a)'s slices, ms |"
  echo "|---|---|---|"
  cat "$WORK/steal.md"
}

: > "$WORK/steal.md"
# (a'), the machine's own noise: a second bare server measured against (a)
# as the cases are. Its rounds show how far two identical servers drift apart
# here, the floor under every case's ratios.
BARE2=$(start 18603 "$T/bare" 18603 "$BODY_SIZE")
measure "(a') the ceiling again" 18603 "$BARE2" bench/wrk/verify.lua "$WORK/data-1000/hot.txt"
stop "$BARE2"

for n in $SIZES; do
  KW=$(serve 18601 "$WORK/data-$n")
  load 18601 bench/wrk/verify.lua "$WORK/data-$n/hot.txt" 20s > /dev/null # warm the cache
  measure "(b) verify, $n keys" 18601 "$KW" bench/wrk/verify.lua "$WORK/data-$n/hot.txt"
  if [ "$n" = 1000000 ]; then
    measure "(e) auth, $n keys" 18601 "$KW" bench/wrk/auth.lua "$WORK/data-$n/hot.txt"
    # A flood of unknown keys, twice. First sight: every request a key
    # nobody sent before (a fresh set each round), so no cache knows it; the
    # node's copy of the stored hashes answers, after one shared read of what
    # was written since. Repeated: 100,000 keys cycled, after a pass that put
    # them all in the negative cache (which answers them for 60 s).
    unknown="$WORK/data-$n/unknown.txt"
    # More keys than a round can send (about 100,000 a second at most here).
    fresh=$((${DURATION%s} * 100000))
    for ((i = 0; i < ROUNDS; i++)); do
      "$T/unknown-keys" "$fresh" "$WORK/unknown-fresh-$i.txt"
    done
    rps=() p99=() arps=() ap99=()
    for ((i = 0; i < ROUNDS; i++)); do
      read -r x y < <(load 18600 bench/wrk/verify.lua "$WORK/unknown-fresh-$i.txt"); arps+=("$x"); ap99+=("$y")
      read -r x y < <(load 18601 bench/wrk/verify.lua "$WORK/unknown-fresh-$i.txt"); rps+=("$x"); p99+=("$y")
    done
    read -r x y < <(load 18600 bench/wrk/verify.lua "$WORK/unknown-fresh-0.txt"); arps+=("$x"); ap99+=("$y")
    row "(d) unknown keys, first sight" "$(rss_mib "$KW")" "${rps[*]}" / "${p99[*]}" / "$(between "${arps[@]}")" / "$(between "${ap99[@]}")"
    load 18601 bench/wrk/verify.lua "$unknown" 3s > /dev/null
    measure "(d) unknown keys, repeated" 18601 "$KW" bench/wrk/verify.lua "$unknown"
  fi
  stop "$KW"
done

[[ " $SIZES " == *" 1000000 "* ]] || { stop "$BARE"; print_steal; exit 0; }
# (c) cold: each round a fresh server over 1,000,000 keys, sent keys from its
# own slice of the file (keys 300,001 on, split among the rounds), none
# verified before in this run.
rps=() p99=() arps=() ap99=() rss=0
slice=$((700000 / ROUNDS))
for ((i = 0; i < ROUNDS; i++)); do
  # The database in the page cache, as a seed leaves it: a machine that
  # reclaims file pages left idle for a minute (DAMON's pageout here) drops
  # it during the run, and a first-time lookup that reads the disk holds the
  # request worker (docs/benchmarks.md, run 27).
  cat "$WORK/data-1000000/keyward.db" > /dev/null
  keys="$WORK/data-1000000/cold-$i.txt"
  sed -n "$((300001 + i * slice)),$((300000 + (i + 1) * slice))p" "$WORK/data-1000000/keys.txt" > "$keys"
  read -r x y < <(load 18600 bench/wrk/verify.lua "$keys"); arps+=("$x"); ap99+=("$y")
  KW=$(serve 18602 "$WORK/data-1000000")
  read -r x y < <(load 18602 bench/wrk/verify.lua "$keys"); rps+=("$x"); p99+=("$y")
  r=$(rss_mib "$KW"); [ "$r" -gt "$rss" ] && rss=$r
  stop "$KW"
done
read -r x y < <(load 18600 bench/wrk/verify.lua "$keys"); arps+=("$x"); ap99+=("$y")
row "(c) first-time verifications" "$rss" "${rps[*]}" / "${p99[*]}" / "$(between "${arps[@]}")" / "$(between "${ap99[@]}")"
stop "$BARE"
print_steal
