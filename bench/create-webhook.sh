#!/usr/bin/env bash
# Key creation throughput with one enabled webhook endpoint against none, at
# 8 concurrent clients, on SQLite and PostgreSQL, in one run (issue 15: with
# the endpoint, at least 0.8 of the throughput without).
#
# (a) no webhook endpoint; (b) one enabled endpoint subscribed to "*", whose
# URL is a local nginx answering 204 (its own instance, configured under
# $WORK/nginx, on a free port of 127.0.0.1, pinned to core 1 beside wrk).
# The server runs with --webhook-allow-private in both cases, so that the
# endpoint is the only difference. Each case runs $ROUNDS rounds of
# $DURATION, alternating (a) and (b), each from a fresh database holding one
# organization (bench/create-common.sh); the figure is the median.
#
# After each (b) round the server keeps running until its worker has sent
# every message (at most $DRAIN_TIMEOUT seconds): until
# GET /v1/webhooks/{id}/deliveries lists at least one key.created delivery
# per answered create and the newest is sent; the round then fails unless
# every delivery `succeeded`. How long that took after the load ended is
# printed to stderr.
#
# HELD=1 adds a case (c): one enabled endpoint whose URL is a listener that
# accepts connections and never answers, so that every create still queues
# its message but the worker sends nothing during the round (its first
# attempt waits for its timeout, 15 s, longer than a round, and the
# endpoint's other messages wait behind it). (b) against (c) is the
# worker's share, (c) against (a) that of the audited write's transaction.
# For every round the server's CPU time per create (and PostgreSQL's, all
# its processes) is printed to stderr.
#
# Run by hand (not by CI). Results: docs/benchmarks.md.
set -euo pipefail
WORK=${WORK:-/tmp/keyward-bench-create-webhook}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-900}
HELD=${HELD:-0}
source "$(dirname "$0")/create-common.sh"

cargo build --release -p keyward >&2
BIN=target/release/keyward
command -v nginx > /dev/null || { echo "nginx is missing: apt-get install -y nginx" >&2; exit 1; }

# The receiver: nginx, 204 to everything.
NGINX_DIR=$WORK/nginx
NGINX_PID= HELD_PID=
trap 'create_cleanup; kill $NGINX_PID $HELD_PID 2>/dev/null || true' EXIT
rm -rf "$NGINX_DIR"; mkdir -p "$NGINX_DIR"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
NGINX_PORT=$(free_port)
cat > "$NGINX_DIR/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $NGINX_DIR/body;
  proxy_temp_path $NGINX_DIR/proxy;
  fastcgi_temp_path $NGINX_DIR/fastcgi;
  uwsgi_temp_path $NGINX_DIR/uwsgi;
  scgi_temp_path $NGINX_DIR/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { return 204; }
  }
}
CONF
taskset -c 1 nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log" &
NGINX_PID=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" && break; sleep 0.1; done
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "http://127.0.0.1:$NGINX_PORT/hook")" = 204 ] \
  || { echo "nginx does not answer 204" >&2; exit 1; }
echo "receiver: nginx on 127.0.0.1:$NGINX_PORT" >&2
if [ "$HELD" = 1 ]; then
  # (c)'s receiver: connections wait in the listen queue, never answered.
  HELD_PORT=$(free_port)
  taskset -c 1 python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(128)
time.sleep(86400)' "$HELD_PORT" &
  HELD_PID=$!
  sleep 0.5
fi

SERVE_ARGS=(--webhook-allow-private)
api() { # <root key> <method> <path> [body]
  curl -sS --fail-with-body -X "$2" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
    ${4:+-d "$4"} "http://127.0.0.1:$PORT$3"
}

# CPU time in clock ticks: the server's, and all of PostgreSQL's processes'.
server_ticks() { awk '{print $14 + $15}' "/proc/$(cat "$WORK/server.pid")/stat"; }
pg_ticks() {
  local pid t=0
  for pid in $(pgrep -u postgres || true); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2> /dev/null || echo 0)))
  done
  echo "$t"
}

# Each round's setup: the endpoint at $TARGET (none if empty), then the CPU
# counters.
start_case() {
  WEBHOOK_ID=
  if [ -n "$TARGET" ]; then
    WEBHOOK_ID=$(api "$1" POST /v1/webhooks \
      "{\"url\": \"$TARGET\", \"events\": [\"*\"]}" | jq -r .id)
  fi
  SERVER0=$(server_ticks) PG0=$(pg_ticks)
}
# Each round's end: CPU per create, then (b)'s check.
end_case() {
  local server=$(($(server_ticks) - SERVER0)) pg=$(($(pg_ticks) - PG0)) requests hz
  requests=$(round_requests) hz=$(getconf CLK_TCK)
  awk -v c="$CASE" -v n="$requests" -v s="$server" -v p="$pg" -v hz="$hz" \
    'BEGIN {printf "%s: %d creates; CPU per create: server %.2f ms, PostgreSQL %.2f ms\n", c, n, s * 1000 / hz / n, p * 1000 / hz / n}'
  [ "$CASE" != "(b)" ] || check_deliveries "$1"
}
ROUND_SETUP=start_case ROUND_CHECK=end_case

# (b)'s check: every message sent and received.
check_deliveries() {
  local root=$1 requests start waited=0 newest
  requests=$(round_requests)
  start=$(date +%s.%N)
  # Deliveries yield to the API's writes, so messages may still be made
  # after the load: wait until the newest delivery is sent (messages go to an
  # endpoint one after another, oldest first) and there is one per create.
  local statuses="$WORK/deliveries.txt" cursor page
  while :; do
    newest=$(api "$root" GET "/v1/webhooks/$WEBHOOK_ID/deliveries?limit=1" | jq -r '.data[0].status')
    if [ "$newest" != pending ] && [ "$newest" != null ]; then
      # The whole delivery log, page by page: status and event of each.
      cursor=""
      : > "$statuses"
      while :; do
        page=$(api "$root" GET "/v1/webhooks/$WEBHOOK_ID/deliveries?limit=100${cursor:+&cursor=$cursor}")
        jq -r '.data[] | "\(.status) \(.event_type) \(.attempts | length)"' <<< "$page" >> "$statuses"
        cursor=$(jq -r '.next_cursor // empty' <<< "$page")
        [ -n "$cursor" ] || break
      done
      [ "$(awk '$2 == "key.created"' "$statuses" | wc -l)" -lt "$requests" ] || break
    fi
    waited=$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN {printf "%d", n - s}')
    [ "$waited" -lt "$DRAIN_TIMEOUT" ] || { echo "deliveries still missing after ${DRAIN_TIMEOUT}s" >&2; exit 1; }
    sleep 1
  done
  local drained; drained=$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN {printf "%.1f", n - s}')
  local total created succeeded retried
  total=$(wc -l < "$statuses")
  created=$(awk '$2 == "key.created"' "$statuses" | wc -l)
  succeeded=$(awk '$1 == "succeeded"' "$statuses" | wc -l)
  retried=$(awk '$3 > 1' "$statuses" | wc -l)
  echo "$requests creates answered; $total deliveries ($created key.created), $succeeded succeeded," \
    "$retried after more than one attempt; the last sent ${drained}s after the load ended" >&2
  [ "$succeeded" = "$total" ] && [ "$created" -ge "$requests" ] \
    || { echo "not every create was delivered" >&2; exit 1; }
}

if [ "$HELD" = 1 ]; then
  echo "| backend | (a) no endpoint creates/s | (b) one endpoint creates/s | (b) / (a) | (c) endpoint never answering creates/s | (c) / (a) | rounds ((a); (b); (c)) |"
  echo "|---|---:|---:|---:|---:|---:|---|"
else
  echo "| backend | (a) no endpoint creates/s | (b) one endpoint creates/s | (b) / (a) | rounds ((a); (b)) |"
  echo "|---|---:|---:|---:|---|"
fi
for backend in sqlite postgres; do
  without=() with=() held=()
  for _ in $(seq "$ROUNDS"); do
    # Plain assignments, so that a failed round stops the script.
    CASE="(a)" TARGET=
    a=$(round "$BIN" "$backend")
    CASE="(b)" TARGET=http://127.0.0.1:$NGINX_PORT/hook
    b=$(round "$BIN" "$backend")
    without+=("$a") with+=("$b")
    if [ "$HELD" = 1 ]; then
      CASE="(c)" TARGET=http://127.0.0.1:$HELD_PORT/hook
      c=$(round "$BIN" "$backend")
      held+=("$c")
    fi
  done
  a=$(printf '%s\n' "${without[@]}" | median)
  b=$(printf '%s\n' "${with[@]}" | median)
  if [ "$HELD" = 1 ]; then
    c=$(printf '%s\n' "${held[@]}" | median)
    echo "| $backend | $a | $b | $(ratio "$a" "$b") | $c | $(ratio "$a" "$c") | ${without[*]}; ${with[*]}; ${held[*]} |"
  else
    echo "| $backend | $a | $b | $(ratio "$a" "$b") | ${without[*]}; ${with[*]} |"
  fi
done
