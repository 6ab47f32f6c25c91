#!/usr/bin/env bash
# Peak server memory while exporting the audit log, by number of events.
# Run by hand (not by CI); results go to docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p keyward -p keyward-bench
./target/release/audit-export "$@"
