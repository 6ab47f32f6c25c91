#!/usr/bin/env bash
# What a verification costs through each client library, against the bare HTTP call.
#
# One `keyward serve` (pinned to core 0) and one key, verified over and over by one caller
# (pinned to core 1), one request at a time on a kept-alive connection, so each figure is a
# per-request latency: Keyward's own cache holds the key after the warm-up, and the clients'
# optional local cache is measured separately (a hit never leaves the process).
#
#   python: httpx POST /v1/verify (bare), Keyward.verify, AsyncKeyward.verify,
#           Keyward.verify with cache_ttl (hits), httpx GET /v1/auth (forward auth, bare)
#   node:   fetch POST /v1/verify (bare), Keyward.verify, with cacheTtlMs (hits),
#           fetch GET /v1/auth (bare)
#   rust:   reqwest POST /v1/verify (bare), Keyward::verify, with cache_ttl (hits),
#           reqwest GET /v1/auth (bare): crates/client/examples/bench_verify.rs, release build
#
#   bench/clients.sh                      # after .ci/clients.sh (its venv and npm build)
#   KEYWARD_BIN=target/release/keyward N=5000 bench/clients.sh
#
# Each case runs N requests after N/10 of warm-up, in ROUNDS rounds interleaved with the
# others; the table gives the median round's mean, p50 and p99 in microseconds.
# Run by hand (not by CI). Results: docs/benchmarks.md, "Client libraries".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
N=${N:-3000}
ROUNDS=${ROUNDS:-3}
KEYWARD_BIN=${KEYWARD_BIN:-$root/target/debug/keyward}
PYTHON=${PYTHON:-$root/target/clients-python-venv/bin/python}
[ -x "$KEYWARD_BIN" ] || { echo "no keyward at $KEYWARD_BIN" >&2; exit 1; }
[ -x "$PYTHON" ] || { echo "no client venv at $PYTHON: run .ci/clients.sh first" >&2; exit 1; }
[ -f clients/typescript/dist/index.js ] || (cd clients/typescript && npm ci --silent && npm run build --silent)
cargo build --quiet --release -p keyward-client --example bench_verify
RUST_BENCH=${CARGO_TARGET_DIR:-$root/target}/release/examples/bench_verify

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2> /dev/null && wait "$server_pid" 2> /dev/null
  rm -rf "$work"
  return 0
}
trap cleanup EXIT

json() { "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
root_key=$("$KEYWARD_BIN" --data-dir "$work/data" org create --name Bench \
  --owner-email bench@example.com --json | json root_key)
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
taskset -c 0 "$KEYWARD_BIN" --data-dir "$work/data" serve --addr "127.0.0.1:$port" \
  > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do curl -fs "$url/readyz" > /dev/null && break; sleep 0.1; done
key=$(curl -fs -H "Authorization: Bearer $root_key" -H 'Content-Type: application/json' \
  "$url/v1/keys" -d '{"name": "bench", "role": "readonly"}' | json key)

export URL=$url KEY=$key N
cat > "$work/bench.py" << 'PY'
import asyncio, json, os, statistics, sys, time
import httpx
from keyward import AsyncKeyward, Keyward

url, key, n = os.environ["URL"], os.environ["KEY"], int(os.environ["N"])

def timed(call):
    for _ in range(n // 10):
        call()
    times = []
    for _ in range(n):
        t = time.perf_counter_ns(); call(); times.append(time.perf_counter_ns() - t)
    return times

async def atimed(call):
    for _ in range(n // 10):
        await call()
    times = []
    for _ in range(n):
        t = time.perf_counter_ns(); await call(); times.append(time.perf_counter_ns() - t)
    return times

def cases():
    http = httpx.Client()
    body = json.dumps({"key": key, "scopes": ["data:read"]}).encode()
    def bare():
        r = http.post(f"{url}/v1/verify", content=body, headers={"Content-Type": "application/json"})
        assert r.json()["valid"]
    def auth():
        r = http.get(f"{url}/v1/auth", headers={"Authorization": f"Bearer {key}", "X-Keyward-Scopes": "data:read"})
        assert r.status_code == 200
    kw = Keyward(url)
    cached = Keyward(url, cache_ttl=60)
    def client():
        assert kw.verify(key, ["data:read"]).valid
    def client_cached():
        assert cached.verify(key, ["data:read"]).valid
    akw = AsyncKeyward(url)
    async def aclient():
        assert (await akw.verify(key, ["data:read"])).valid
    loop = asyncio.new_event_loop()
    return {
        "python: httpx POST /v1/verify (bare)": lambda: timed(bare),
        "python: Keyward.verify": lambda: timed(client),
        "python: AsyncKeyward.verify": lambda: loop.run_until_complete(atimed(aclient)),
        "python: Keyward.verify, cache hit": lambda: timed(client_cached),
        "python: httpx GET /v1/auth (bare)": lambda: timed(auth),
    }

results = {}
all_cases = cases()
for _ in range(int(sys.argv[1])):
    for name, run in all_cases.items():
        results.setdefault(name, []).append(run())
print(json.dumps(results))
PY
cat > clients/typescript/.bench.mjs << 'JS'
import { Keyward } from "@keyward/client";
const { URL: url, KEY: key } = process.env;
const n = Number(process.env.N);
const rounds = Number(process.argv[2]);
async function timed(call) {
  for (let i = 0; i < n / 10; i++) await call();
  const times = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await call();
    times.push(Number(process.hrtime.bigint() - t));
  }
  return times;
}
const body = JSON.stringify({ key, scopes: ["data:read"] });
const kw = new Keyward({ baseUrl: url });
const cached = new Keyward({ baseUrl: url, cacheTtlMs: 60_000 });
const cases = {
  "node: fetch POST /v1/verify (bare)": async () => {
    const r = await fetch(`${url}/v1/verify`, { method: "POST", body, headers: { "Content-Type": "application/json" } });
    if (!(await r.json()).valid) throw new Error("invalid");
  },
  "node: Keyward.verify": async () => {
    if (!(await kw.verify(key, { scopes: ["data:read"] })).valid) throw new Error("invalid");
  },
  "node: Keyward.verify, cache hit": async () => {
    if (!(await cached.verify(key, { scopes: ["data:read"] })).valid) throw new Error("invalid");
  },
  "node: fetch GET /v1/auth (bare)": async () => {
    const r = await fetch(`${url}/v1/auth`, { headers: { Authorization: `Bearer ${key}`, "X-Keyward-Scopes": "data:read" } });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error("refused");
  },
};
const results = {};
for (let r = 0; r < rounds; r++) for (const [name, run] of Object.entries(cases)) (results[name] ??= []).push(await timed(run));
console.log(JSON.stringify(results));
JS
trap 'rm -f clients/typescript/.bench.mjs; cleanup' EXIT

taskset -c 1 "$PYTHON" "$work/bench.py" "$ROUNDS" > "$work/python.json"
(cd clients/typescript && taskset -c 1 node .bench.mjs "$ROUNDS") > "$work/node.json"
taskset -c 1 "$RUST_BENCH" "$ROUNDS" > "$work/rust.json"

"$PYTHON" - "$work/python.json" "$work/node.json" "$work/rust.json" << 'PY'
import json, statistics, sys
print(f"| case | mean µs | p50 µs | p99 µs |")
print(f"|---|---:|---:|---:|")
for path in sys.argv[1:]:
    for name, rounds in json.load(open(path)).items():
        summaries = []
        for times in rounds:
            ordered = sorted(times)
            summaries.append((statistics.fmean(ordered) / 1000, ordered[len(ordered) // 2] / 1000,
                              ordered[int(len(ordered) * 0.99)] / 1000))
        mean, p50, p99 = sorted(summaries)[len(summaries) // 2]
        print(f"| {name} | {mean:.0f} | {p50:.0f} | {p99:.0f} |")
PY
