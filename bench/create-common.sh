# Shared by bench/create.sh and bench/create-webhook.sh (sourced, not run):
# one round of key creations at $CONNS concurrent clients against a fresh
# database holding one organization, the server pinned to core 0 and wrk to
# core 1, and the median of a list of rounds.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-8}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-18700}
mkdir -p "$WORK"
# What is measured: the commit, and whether the source differs from it.
echo "commit $(git rev-parse --short HEAD)$([ -z "$(git status --porcelain -- crates Cargo.lock)" ] \
  || echo ', with uncommitted changes under crates/')" >&2

# Extra arguments of `keyward serve`, and two hooks a script may set:
# ROUND_SETUP runs once the server answers (before the load), ROUND_CHECK
# once the load is over (before the server stops). Both are called with the
# organization's root key; both print to stderr.
SERVE_ARGS=()
ROUND_SETUP=
ROUND_CHECK=

# Stops the server of an unfinished round (rounds run in a subshell, so its
# pid is kept in a file) and drops the benchmark database.
create_cleanup() {
  [ ! -s "$WORK/server.pid" ] || kill "$(cat "$WORK/server.pid")" 2>/dev/null || true
  rm -f "$WORK/server.pid"
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS keyward_bench_create WITH (FORCE)" 2>/dev/null || true
}

# One round: <binary> <sqlite|postgres>; prints creates/s. BACKEND_URL holds
# the round's --database-url arguments (empty on SQLite), DATA its data
# directory, for the hooks.
round() {
  local bin=$1 backend=$2
  DATA="$WORK/data" BACKEND_URL=()
  rm -rf "$DATA"
  if [ "$backend" = postgres ]; then
    psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS keyward_bench_create WITH (FORCE)" >&2
    psql -q "$PG/postgres" -c "CREATE DATABASE keyward_bench_create" >&2
    BACKEND_URL=(--database-url "$PG/keyward_bench_create")
  fi
  local root
  root=$(KEYWARD_DATA_DIR="$DATA" KEYWARD_OWNER_PASSWORD="a very long password" \
    "$bin" "${BACKEND_URL[@]}" org create --name Bench --owner-email b@example.com --json \
    | sed -E 's/.*"root_key":"([^"]+)".*/\1/')
  KEYWARD_DATA_DIR="$DATA" taskset -c 0 "$bin" "${BACKEND_URL[@]}" serve --addr "127.0.0.1:$PORT" \
    "${SERVE_ARGS[@]}" > "$WORK/server.log" 2>&1 &
  local pid=$!
  echo "$pid" > "$WORK/server.pid"
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
  [ -z "$ROUND_SETUP" ] || "$ROUND_SETUP" "$root" >&2
  ROOT_KEY=$root taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" -s bench/wrk/create.lua \
    "http://127.0.0.1:$PORT" > "$WORK/wrk.txt"
  local errors; errors=$(awk '/Non-2xx|Socket errors/' "$WORK/wrk.txt")
  # A refused create is not a create: the figure would be meaningless.
  [ -z "$errors" ] || { echo "wrk reported: $errors" >&2; exit 1; }
  [ -z "$ROUND_CHECK" ] || "$ROUND_CHECK" "$root" >&2
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -f "$WORK/server.pid"
  awk '/Requests\/sec/ {printf "%.0f\n", $2}' "$WORK/wrk.txt"
}

# The creates wrk saw answered in the last round.
round_requests() { awk '/requests in/ {print $1}' "$WORK/wrk.txt"; }

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b/a}'; }
