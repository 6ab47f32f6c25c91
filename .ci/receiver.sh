#!/usr/bin/env bash
# The Python that runs the webhook tests' receiver
# (crates/cli/tests/receiver/receiver.py) and the email tests' SMTP server
# (smtp_server.py): a venv at target/receiver-venv with
# requirements.txt installed (standardwebhooks and aiosmtpd, pinned by hash).
# Prints the venv's python; quick when the venv is already there and was made
# from the same requirements.txt, rebuilt otherwise.
#
#   KEYWARD_TEST_PYTHON=$(.ci/receiver.sh) cargo test -p keyward
#
# Needs python3 with venv, and the package registry the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=crates/cli/tests/receiver/requirements.txt
venv=$PWD/target/receiver-venv
python=$venv/bin/python

# The venv keeps a copy of the requirements it was made from.
if ! cmp -s "$requirements" "$venv/requirements.txt" \
  || ! "$python" -c 'import standardwebhooks, aiosmtpd' 2> /dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$python" -m pip install --quiet --disable-pip-version-check --require-hashes \
    -r "$requirements" >&2
  cp "$requirements" "$venv/requirements.txt"
fi
echo "$python"
