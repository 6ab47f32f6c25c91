#!/usr/bin/env bash
# Peak server memory while exporting the audit log, by number of events: the
# download, then the same export by email to an aiosmtpd server (the email
# tests' venv, made by .ci/receiver.sh).
# Run by hand (not by CI); results go to docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
KEYWARD_TEST_PYTHON=${KEYWARD_TEST_PYTHON:-$(.ci/receiver.sh)}
export KEYWARD_TEST_PYTHON
cargo build --release -p keyward -p keyward-bench
./target/release/audit-export "$@"
