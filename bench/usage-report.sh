#!/usr/bin/env bash
# How fast GET /v1/usage and the dashboard's overview answer with 1,000,000
# keys and a year of usage, against one key's usage in the same run
# (bench/src/bin/usage-report.rs). Run by hand (not by CI); results go to
# docs/benchmarks.md, "Organization usage".
#
#   bash bench/usage-report.sh [keys] [days-per-key] [rounds]   # 1000000 6 30
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p keyward -p keyward-bench
exec ./target/release/usage-report "$@"
