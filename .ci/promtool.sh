#!/usr/bin/env bash
# Checks the Prometheus rules and runs their unit tests with promtool (Debian's
# prometheus package), checks that every runbook link has its section in
# docs/operations.md, and that every query of the Grafana dashboard parses.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null; then
  echo "promtool is required: apt-get install prometheus (.ci/run does)" >&2
  exit 1
fi
promtool check rules deploy/prometheus/keyward-rules.yml
promtool test rules deploy/prometheus/keyward-rules.test.yml

# Each runbook_url ends in the anchor of a heading named after its alert.
missing=0
for anchor in $(grep -o 'runbook_url: "[^"]*"' deploy/prometheus/keyward-rules.yml | sed 's/.*#\(.*\)"/\1/'); do
  if ! grep -qiE "^#+ ${anchor}\$" docs/operations.md; then
    echo "docs/operations.md has no section for the runbook anchor #${anchor}" >&2
    missing=1
  fi
done

# The dashboard's queries, with Grafana's variables filled in, parsed by promtool
# as recording rules.
queries=$(mktemp --suffix=.yml)
trap 'rm -f "$queries"' EXIT
python3 - deploy/grafana/keyward.json >"$queries" <<'PY'
import json, sys
dashboard = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
exprs += [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
print("groups:\n  - name: dashboard\n    rules:")
for i, expr in enumerate(exprs):
    for var, value in [("$__rate_interval", "5m"), ("$__interval", "1m"), ("$job", "keyward"), ("$instance", ".*")]:
        expr = expr.replace(var, value)
    print(f"      - record: dashboard_query_{i}\n        expr: {json.dumps(expr)}")
PY
promtool check rules "$queries"
exit "$missing"
