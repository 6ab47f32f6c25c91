#!/usr/bin/env bash
# Schemathesis against a real `keyward serve`, once on SQLite and once on
# PostgreSQL: every operation of /v1/openapi.json is called with generated
# valid and invalid data, and the answers must be what the document says.
# Any finding fails the run.
#
#   .ci/schemathesis.sh            # both backends, 90 s of testing each
#   KEYWARD_SCHEMATHESIS_SECONDS=30 KEYWARD_SCHEMATHESIS_BACKENDS=sqlite .ci/schemathesis.sh
#
# Needs python3 (with venv), cargo, and PostgreSQL at 127.0.0.1:5432 with
# trust authentication for the user postgres. Reports (NDJSON, JUnit) go to
# target/schemathesis/.
#
# Not locking itself out: the run authenticates with the root key that
# `keyward org create` prints, and schemathesis learns ids from answers (the
# audit log names that key in every event), so a fuzzed revoke, disable,
# archive, regenerate or update could be aimed at it. The hook file sends
# every request naming that key's id to a decoy root key made here instead,
# so those operations still run against a real root key but never against
# the one the run needs; after each run the key must still authenticate.
# (Root keys cannot change, remove or reset the owner who created them, and
# nothing else a root key can call disables another key.) See
# .ci/schemathesis/hooks.py.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

SCHEMATHESIS_VERSION=4.32.5
seconds=${KEYWARD_SCHEMATHESIS_SECONDS:-90}
backends=${KEYWARD_SCHEMATHESIS_BACKENDS:-sqlite postgres}
out=$root/target/schemathesis
venv=$out/venv-$SCHEMATHESIS_VERSION
postgres_admin=postgres://postgres@127.0.0.1:5432/postgres

mkdir -p "$out"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$venv/bin/schemathesis" --version

cargo build --quiet -p keyward
keyward=$root/target/debug/keyward

work=$(mktemp -d)
server_pid=
database=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$database" ]; then
    psql "$postgres_admin" -q -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# `json FIELD` reads one field of the JSON document on stdin.
json() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

run_backend() {
  local backend=$1 url=() port base root_key management root_id decoy_id started status data
  if [ "$backend" = postgres ]; then
    database=keyward_schemathesis_$$
    psql "$postgres_admin" -q -c "CREATE DATABASE $database"
    url=(--database-url "postgres://postgres@127.0.0.1:5432/$database")
  fi
  data=$work/$backend
  root_key=$("$keyward" org create --data-dir "$data" "${url[@]}" \
    --name Schemathesis --owner-email owner@schemathesis.example --json | json root_key)

  port=$(free_port)
  base=http://127.0.0.1:$port
  # Email on, to a port where no SMTP server listens: exports by email are
  # queued (and retried), so their endpoint answers as it does in production.
  "$keyward" serve --data-dir "$data" "${url[@]}" --addr "127.0.0.1:$port" \
    --smtp-url "smtp://127.0.0.1:$(free_port)?tls=none" --smtp-from keyward@schemathesis.example \
    > "$out/$backend-server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 300); do
    curl -fs "$base/healthz" > /dev/null && break
    sleep 0.1
  done
  curl -fs "$base/healthz" > /dev/null || {
    cat "$out/$backend-server.log" >&2
    exit 1
  }

  # The root key's own id, and the decoy that stands in for it.
  local auth=(-H "Authorization: Bearer $root_key")
  management=$(curl -fs "${auth[@]}" "$base/v1/projects" | python3 -c '
import json, sys
print(next(p["id"] for p in json.load(sys.stdin)["data"] if p["management"]))')
  root_id=$(curl -fs "${auth[@]}" "$base/v1/keys?project_id=$management" | python3 -c '
import json, sys
print(json.load(sys.stdin)["data"][0]["id"])')
  decoy_id=$(curl -fs "${auth[@]}" -H 'Content-Type: application/json' "$base/v1/keys" \
    -d "{\"name\": \"decoy\", \"project_id\": \"$management\", \"role\": \"admin\"}" | json id)

  echo "== schemathesis on $backend ($seconds s)"
  rm -rf "${out:?}/$backend"
  started=$SECONDS
  status=0
  (
    cd "$work"
    KEYWARD_PROTECTED_KEY_ID=$root_id KEYWARD_DECOY_KEY_ID=$decoy_id \
      PYTHONPATH=$root/.ci/schemathesis SCHEMATHESIS_HOOKS=hooks \
      "$venv/bin/schemathesis" --config-file "$root/.ci/schemathesis/schemathesis.toml" \
      run "$base/v1/openapi.json" "${auth[@]}" \
      --max-time "$seconds" \
      --generation-database none \
      --no-color \
      --report junit,ndjson --report-dir "$out/$backend"
  ) || status=$?
  echo "== schemathesis on $backend: exit $status after $((SECONDS - started)) s"

  # The run must end with its root key intact.
  if ! curl -fs "${auth[@]}" "$base/v1/keys/$root_id" | grep -q '"status":"active"'; then
    echo "the run's root key no longer works: it locked itself out" >&2
    status=1
  fi
  [ "$status" -eq 0 ] || failed=1

  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=
  if [ -n "$database" ]; then
    psql "$postgres_admin" -q -c "DROP DATABASE IF EXISTS $database WITH (FORCE)"
    database=
  fi
}

# Not `run_backend … || failed=1`: that would turn off `set -e` inside it.
failed=0
for backend in $backends; do
  run_backend "$backend"
done
exit "$failed"
