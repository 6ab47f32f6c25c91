// The README's quick start runs as written (with this suite's server address).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { missingBinary, setUp, startKeyward, type RunningKeyward } from "./helpers.js";

const here = dirname(fileURLToPath(import.meta.url));
const clientDir = resolve(here, "..");

function quickStart(): string {
  const readme = readFileSync(join(clientDir, "README.md"), "utf8");
  const section = readme.split("## Quick start")[1] ?? "";
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(match?.[1]);
  return match[1];
}

describe("README", { skip: missingBinary() }, () => {
  let server: RunningKeyward;
  let makeKey: Awaited<ReturnType<typeof setUp>>["makeKey"];
  before(async () => {
    server = await startKeyward();
    ({ makeKey } = await setUp(server));
  });
  after(() => server?.stop());

  test("the quick start is three lines that work", async () => {
    const code = quickStart();
    assert.equal(code.trim().split("\n").length, 3);
    assert.ok(code.includes("http://127.0.0.1:8080"));
    const created = await makeKey({ scopes: ["data:read"] });
    // Inside the package, so that "@keyward/client" resolves to its own build.
    const script = join(here, "readme-quick-start.mjs");
    writeFileSync(
      script,
      `const apiKey = ${JSON.stringify(created.key)};\n` +
        code.replace("http://127.0.0.1:8080", server.url),
    );
    assert.equal(execFileSync(process.execPath, [script], { encoding: "utf8" }).trim(), "true");
  });
});
