#!/usr/bin/env bash
# The pre-commit program for the hook test (crates/cli/tests/cli/pre_commit.rs):
# a venv at target/pre-commit-venv with .ci/pre-commit-requirements.txt
# installed (pre-commit and its dependencies, each pinned). Prints the path of
# its pre-commit; quick when the venv is already there and was made from the
# same requirements, rebuilt otherwise.
#
#   KEYWARD_TEST_PRE_COMMIT=$(.ci/pre-commit.sh) cargo test -p keyward --test cli pre_commit
#
# Needs python3 with venv, and the package registry the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=.ci/pre-commit-requirements.txt
venv=$PWD/target/pre-commit-venv

# The venv keeps a copy of the requirements it was made from.
if ! cmp -s "$requirements" "$venv/requirements.txt" \
  || ! "$venv/bin/pre-commit" --version > /dev/null 2>&1; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    -r "$requirements" >&2
  "$venv/bin/python" -m pip check --disable-pip-version-check >&2
  cp "$requirements" "$venv/requirements.txt"
fi
echo "$venv/bin/pre-commit"
