#!/usr/bin/env bash
# Usage written behind, on both backends, in one run.
#
# 1. Cached verification on a SQLite node and on a PostgreSQL node: POST
#    /v1/verify cycling through 1,000 keys at $CONNS connections, $ROUNDS
#    rounds of $DURATION, the cases alternating round by round; the server on
#    core 0, wrk on core 1, PostgreSQL wherever the system puts it. Each
#    backend with the default resolution (`last_used_at` written once a
#    minute per key) and with --usage-resolution-ms 0 (everything at every
#    flush, as earlier versions wrote). Per round: requests/s, p99, p99.9,
#    and PostgreSQL's CPU seconds.
# 2. The write-behind at $RATE verifications a second cycling through $KEYS
#    keys ($RATE distinct keys a second), in process (`usage-load`: this
#    machine's HTTP stack answers fewer requests a second), against each
#    backend, with the default resolution and with 0. Per round: the most
#    keys pending, the flushes and the longest, and storage's CPU.
# Run by hand (not by CI). Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-5}
CONNS=${CONNS:-32}
RATE=${RATE:-100000}
KEYS=${KEYS:-200000}
SECONDS_PER_ROUND=${SECONDS_PER_ROUND:-20}
LOAD_ROUNDS=${LOAD_ROUNDS:-3}
SECTIONS=${SECTIONS:-1 2}   # which of the two parts to run
BACKENDS=${BACKENDS:-sqlite postgres}   # in part 2
WORK=${WORK:-/tmp/keyward-usage-bench}
PG=postgres://postgres@127.0.0.1:5432
T=target/release
mkdir -p "$WORK"
cargo build --release -p keyward -p keyward-bench >&2

pg_database() { # <name>: created once, kept between runs
  psql -q "$PG/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$1'" | grep -q 1 ||
    psql -q "$PG/postgres" -c "CREATE DATABASE $1" >&2
}
seed() { # <name> <count> [database]: a data directory (and database) with <count> keys
  local dir="$WORK/$1"
  if [ ! -f "$dir/keys.txt" ]; then
    rm -rf "$dir"
    if [ -n "${3:-}" ]; then
      psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $3" >&2
      pg_database "$3"
      KEYWARD_DATABASE_URL="$PG/$3" "$T/seed-keys" "$dir" "$2" "$dir/keys.txt" "$dir/unknown.txt" >&2
    else
      "$T/seed-keys" "$dir" "$2" "$dir/keys.txt" "$dir/unknown.txt" >&2
    fi
  fi
}
seed sqlite-1000 1000
seed postgres-1000 1000 keyward_bench_1000
seed sqlite-load "$KEYS"
seed postgres-load "$KEYS" keyward_bench_load

rm -f "$WORK/pids"; touch "$WORK/pids"
trap 'xargs -r kill < "$WORK/pids" 2>/dev/null; rm -f "$WORK/pids"' EXIT
serve() { # <port> <data-dir> [database] [flags…]; prints the pid
  local port=$1 dir=$2 db=${3:-}; shift 3
  local url=(); [ -n "$db" ] && url=(env KEYWARD_DATABASE_URL="$PG/$db")
  taskset -c 0 "${url[@]}" env KEYWARD_DATA_DIR="$dir" "$T/keyward" serve --addr "127.0.0.1:$port" "$@" \
    > "$WORK/server-$port.log" 2>&1 &
  local pid=$!
  echo "$pid" >> "$WORK/pids"
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && { echo "$pid"; return; }; sleep 0.1; done
  echo "server on $port did not start" >&2; exit 1
}
stop() {
  kill "$1" 2>/dev/null || true
  while kill -0 "$1" 2>/dev/null; do sleep 0.1; done
  sed -i "/^$1\$/d" "$WORK/pids"
}
postgres_cpu() { # CPU seconds of every PostgreSQL process so far
  local ticks=0 f
  for f in /proc/[0-9]*/stat; do
    { read -r line < "$f"; } 2>/dev/null || continue
    case "$line" in *"(postgres)"*) ;; *) continue ;; esac
    set -- ${line##*) }
    ticks=$((ticks + ${12} + ${13}))
  done
  echo "scale=2; $ticks / $(getconf CLK_TCK)" | bc
}
ms() { awk '{v=$1; if (v ~ /us$/) {sub("us","",v); v=v/1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v=v*1000}; printf "%.2f", v}'; }
load() { # <port> <keys-file>; prints "requests/s p99-ms p99.9-ms postgres-cpu-s"
  local before; before=$(postgres_cpu)
  KEYS_FILE="$2" taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s bench/wrk/verify.lua "http://127.0.0.1:$1" > "$WORK/wrk.txt"
  local after; after=$(postgres_cpu)
  local errors; errors=$(awk '/Non-2xx|Socket errors/' "$WORK/wrk.txt")
  [ -z "$errors" ] || echo "wrk reported: $errors" >&2
  printf '%s %s %s %s\n' "$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")" \
    "$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt" | ms)" \
    "$(awk '$1 == "p99.9" {printf "%.2f", $2 / 1000}' "$WORK/wrk.txt")" \
    "$(echo "$after - $before" | bc)"
}

if [[ " $SECTIONS " == *" 1 "* ]]; then
echo "## 1. Cached verification, 1,000 keys, $CONNS connections, $DURATION rounds"
echo
echo "| round | case | requests/s | p99 ms | p99.9 ms | PostgreSQL CPU s |"
echo "|---:|---|---:|---:|---:|---:|"
declare -A PIDS
PIDS[sqlite]=$(serve 18611 "$WORK/sqlite-1000" "")
PIDS[postgres]=$(serve 18612 "$WORK/postgres-1000" keyward_bench_1000)
PIDS[sqlite-0]=$(serve 18613 "$WORK/sqlite-1000" "" --usage-resolution-ms 0)
PIDS[postgres-0]=$(serve 18614 "$WORK/postgres-1000" keyward_bench_1000 --usage-resolution-ms 0)
declare -A PORT=([sqlite]=18611 [postgres]=18612 [sqlite-0]=18613 [postgres-0]=18614)
CASES=(sqlite postgres sqlite-0 postgres-0)
for c in "${CASES[@]}"; do # warm each cache
  KEYS_FILE="$WORK/sqlite-1000/keys.txt" wrk -t1 -c4 -d2s -s bench/wrk/verify.lua "http://127.0.0.1:${PORT[$c]}" > /dev/null
done
# Both SQLite nodes share one database file, both PostgreSQL nodes one
# database: only the node measured gets requests (the other idles).
for ((i = 1; i <= ROUNDS; i++)); do
  for c in "${CASES[@]}"; do
    keys="$WORK/sqlite-1000/keys.txt"; [[ $c == postgres* ]] && keys="$WORK/postgres-1000/keys.txt"
    read -r rps p99 p999 cpu < <(load "${PORT[$c]}" "$keys")
    printf '| %d | %s | %.0f | %s | %s | %s |\n' "$i" "$c" "$rps" "$p99" "$p999" "$cpu"
  done
done
for c in "${CASES[@]}"; do stop "${PIDS[$c]}"; done
fi
[[ " $SECTIONS " == *" 2 "* ]] || exit 0

echo
echo "## 2. The write-behind at $RATE verifications a second over $KEYS keys, $SECONDS_PER_ROUND s rounds"
for backend in $BACKENDS; do
  for resolution in 60000 0; do
    echo
    echo "### $backend, --usage-resolution-ms $resolution"
    echo
    url=(); [ "$backend" = postgres ] && url=(env KEYWARD_DATABASE_URL="$PG/keyward_bench_load")
    "${url[@]}" "$T/usage-load" "$WORK/$backend-load" "$WORK/$backend-load/keys.txt" \
      "$RATE" "$SECONDS_PER_ROUND" "$LOAD_ROUNDS" "$resolution" |
      awk 'NR == 1 {h = "|"; for (i = 1; i <= NF; i++) h = h " " $i " |"; print h; s = "|"; for (i = 1; i <= NF; i++) s = s "---:|"; print s; next}
           {r = "|"; for (i = 1; i <= NF; i++) r = r " " $i " |"; print r}'
  done
done
