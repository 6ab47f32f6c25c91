#!/usr/bin/env bash
# `keyward scan` against `grep -rE` with the same regular expression, over a
# generated tree of about 1 GB of text, with the page cache warm; and against
# `cat` of every file, the ceiling of reading the tree at all.
# Run by hand (not by CI); results go to docs/benchmarks.md.
#
#   bash bench/scan.sh                    # 1024 MB, 5 runs each
#   SIZE_MB=256 RUNS=3 bash bench/scan.sh
#   TREE=/var/tmp/scan-tree bash bench/scan.sh   # make (or reuse) the tree there, keep it
#   SK_IDENTIFIERS=0 bash bench/scan.sh   # no identifiers like task_sk_count
#
# The tree: files of 4 to 120 KB of source-like text in nested directories,
# a few 32 MB logs, a few 2 MB minified one-line bundles and a few binary
# files, with 25 real keys (made here with the key format's checksum), 25
# near misses with a wrong checksum and 25 with a 39-character body planted
# at random. The run checks that `keyward scan` finds exactly the 25 keys.
# By default the text is full of identifiers holding `_sk_` or `_pk_`
# (task_sk_count, api_pk_cache: about one every 120 bytes, far more than in
# real code), each of which the scanner must look at; SK_IDENTIFIERS=0
# leaves them out.
#
# Needs python3, hyperfine (installed from Debian if missing and run as root)
# and about SIZE_MB of free space. Nothing needs root otherwise; the cache is
# warmed by reading the tree, not dropped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-5}
SK_IDENTIFIERS=${SK_IDENTIFIERS:-1}
cores=$(nproc)
REGEX='[a-z0-9]{1,16}_(sk|pk)_[0-9A-Za-z]{38}'

if ! command -v hyperfine > /dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine
  else
    echo "hyperfine is needed: apt-get install hyperfine" >&2
    exit 1
  fi
fi

cargo build --release -p keyward
keyward=$root/target/release/keyward

if [ -n "${TREE:-}" ]; then
  tree=$TREE
else
  tree=$(mktemp -d)
  trap 'rm -rf "$tree"' EXIT
fi

made="$SIZE_MB MB, SK_IDENTIFIERS=$SK_IDENTIFIERS"
if [ -f "$tree/.complete" ] && [ "$(cat "$tree/.complete")" != "$made" ]; then
  echo "$tree holds another tree ($(cat "$tree/.complete")): name another TREE" >&2
  exit 1
fi
if [ ! -f "$tree/.complete" ]; then
  if [ -n "$(ls -A "$tree")" ]; then
    echo "$tree is not empty: name an empty or new TREE" >&2
    exit 1
  fi
  echo "making a tree of $SIZE_MB MB in $tree" >&2
  python3 - "$tree" "$SIZE_MB" "$SK_IDENTIFIERS" << 'EOF'
import os, random, secrets, sys, zlib

tree, size_mb, sk_identifiers = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
rng = random.Random(16)
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

def key(prefix, tag):
    signed = f"{prefix}_{tag}_" + "".join(secrets.choice(ALPHABET) for _ in range(32))
    crc, digits = zlib.crc32(signed.encode()), ""
    for _ in range(6):
        digits, crc = ALPHABET[crc % 62] + digits, crc // 62
    return signed + digits

# Source-like text: identifiers (snake_case ones with `_sk`/`_pk` in them
# too), keywords, numbers, strings, punctuation.
words = ["fn", "let", "return", "if", "else", "for", "while", "import", "from", "class",
         "def", "self", "None", "true", "false", "const", "var", "async", "await", "match",
         "user_id", "task_sk_count", "api_pk_cache", "disk_sk", "http_client", "request",
         "response", "config", "settings", "value", "error", "result", "token_kind",
         "parse_sk_body", "main", "logger", "info", "debug", "2024", "0x1f", "42", "3.14",
         '"hello world"', "'%s'", "=>", "==", "+=", "->", "::", "{", "}", "(", ")", "[", "]",
         ";", ",", ".", "=", "#", "//", "/*", "*/", "TODO", "FIXME", "https://example.com/x"]
if not sk_identifiers:
    words = [w for w in words if "_sk_" not in w and "_pk_" not in w]
lines = []
for _ in range(200_000):
    indent = "    " * rng.randrange(4)
    lines.append(indent + " ".join(rng.choice(words) for _ in range(rng.randrange(3, 14))))
corpus = "\n".join(lines) + "\n"

def text(size):
    start = rng.randrange(len(corpus) - size - 1) if size < len(corpus) - 1 else 0
    out = corpus[start:start + size]
    while len(out) < size:
        out += corpus[: size - len(out)]
    return out

files = []
total, target = 0, size_mb * 1024 * 1024
def add(path, data, mode="w"):
    global total
    path = os.path.join(tree, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(data)
    total += len(data)
    files.append(path)

for i in range(4):
    add(f"logs/service-{i}.log", text(32 * 1024 * 1024))
for i in range(8):
    bundle = "".join(rng.choice(words) + rng.choice(",;:(){}") for _ in range(400_000))
    add(f"web/dist/bundle-{i}.min.js", bundle[: 2 * 1024 * 1024] + "\n")
for i in range(8):
    add(f"assets/blob-{i}.bin", b"\0" + rng.randbytes(1024 * 1024), "wb")
n = 0
while total < target:
    path = f"src/m{n % 37}/p{n % 11}/f{n}.{rng.choice(['rs', 'py', 'js', 'go', 'txt'])}"
    add(path, text(rng.randrange(4_000, 120_000)))
    n += 1

texts = [f for f in files if not f.endswith(".bin")]
def plant(s):
    path = rng.choice(texts)
    with open(path) as f:
        content = f.read().split("\n")
    at = rng.randrange(len(content))
    content.insert(at, f"    API_KEY = \"{s}\"")
    with open(path, "w") as f:
        f.write("\n".join(content))

for i in range(25):
    plant(key(rng.choice(["kw", "acme", "prod7"]), rng.choice(["sk", "pk"])))
for i in range(25):
    good = key("kw", "sk")
    plant(good[:-1] + ("B" if good[-1] == "A" else "A"))
for i in range(25):
    plant(key("kw", "pk") + "Q")
print(f"{len(files)} files, {total / 1e6:.0f} MB", file=sys.stderr)
EOF
  echo "$made" > "$tree/.complete"
fi

bytes=$(du -sb "$tree" | cut -f1)
files=$(find "$tree" -type f | wc -l)
echo "tree: $files files, $bytes bytes" >&2

# Warm the cache, and check what each finds.
find "$tree" -type f -print0 | xargs -0 cat > /dev/null
found=$("$keyward" scan --json "$tree" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["findings"]))' || true)
matched=$(LC_ALL=C grep -rEo "$REGEX" "$tree" | wc -l || true)
echo "keyward scan finds $found keys (25 planted); grep -rE matches $matched strings" >&2
[ "$found" = 25 ]

out=$root/target/bench-scan
mkdir -p "$out"
hyperfine --warmup 1 --runs "$RUNS" --ignore-failure \
  --export-json "$out/results.json" --export-markdown "$out/results.md" \
  --command-name "cat (every file, one process)" \
  "find '$tree' -type f -print0 | xargs -0 cat > /dev/null" \
  --command-name "cat (every file, $cores processes)" \
  "find '$tree' -type f -print0 | xargs -0 -P $cores -n 256 cat > /dev/null" \
  --command-name "keyward scan" \
  "'$keyward' scan '$tree' > /dev/null 2>&1" \
  --command-name "grep -rE (LC_ALL=C)" \
  "LC_ALL=C grep -rE '$REGEX' '$tree' > /dev/null"

python3 - "$out/results.json" "$bytes" << 'EOF'
import json, sys
results, size = json.load(open(sys.argv[1]))["results"], int(sys.argv[2])
print("| command | mean s | min s | max s | MB/s (mean) | user s | system s |")
print("|---|---:|---:|---:|---:|---:|---:|")
for r in results:
    print(f"| {r['command']} | {r['mean']:.2f} | {r['min']:.2f} | {r['max']:.2f} "
          f"| {size / r['mean'] / 1e6:,.0f} | {r['user']:.2f} | {r['system']:.2f} |")
EOF
