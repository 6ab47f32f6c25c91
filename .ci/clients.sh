#!/usr/bin/env bash
# The client libraries' linters and test suites (clients/python, clients/typescript),
# against a real `keyward serve`: the binary the workspace built.
#
#   .ci/clients.sh                       # after `cargo build -p keyward` (or cargo test)
#   KEYWARD_BIN=/path/to/keyward .ci/clients.sh
#   KEYWARD_CLIENTS=python .ci/clients.sh     # one of them
#
# Python: a venv at target/clients-python-venv with clients/python/requirements-dev.txt
# (every package pinned), then `pip install ./clients/python` as a user would; ruff,
# mypy --strict, pytest. TypeScript: `npm ci` from the committed package-lock.json, then
# the tsc build (strict), the tests' type check, prettier and `npm test` (node --test).
# Needs python3 with venv, node and npm, and the package registries the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export KEYWARD_BIN=${KEYWARD_BIN:-$root/target/debug/keyward}
clients=${KEYWARD_CLIENTS:-python typescript}

if [ ! -x "$KEYWARD_BIN" ]; then
  echo "no keyward binary at $KEYWARD_BIN: build it first (cargo build -p keyward)" >&2
  exit 1
fi

python_client() {
  local dir=$root/clients/python venv=$root/target/clients-python-venv
  if ! cmp -s "$dir/requirements-dev.txt" "$venv/requirements-dev.txt" \
    || ! "$venv/bin/python" -c 'import pytest' 2> /dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      -r "$dir/requirements-dev.txt" >&2
    cp "$dir/requirements-dev.txt" "$venv/requirements-dev.txt"
  fi
  # The package as users get it (a built wheel, not the source tree).
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall \
    --no-deps "$dir"
  "$venv/bin/python" -m pip check --disable-pip-version-check
  (
    cd "$dir"
    echo "== python: ruff"
    "$venv/bin/ruff" check .
    "$venv/bin/ruff" format --check .
    echo "== python: mypy --strict"
    "$venv/bin/mypy" src
    echo "== python: pytest"
    "$venv/bin/python" -m pytest -p no:cacheprovider
  )
}

typescript_client() {
  (
    cd "$root/clients/typescript"
    echo "== typescript: npm ci"
    npm ci --no-audit --no-fund
    echo "== typescript: build and lint (the tests import the build, as users do)"
    npm run lint
    echo "== typescript: npm test"
    npm test
  )
}

for client in $clients; do
  "${client}_client"
done
