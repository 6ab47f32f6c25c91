// The optional cache: bounded staleness, and one call for concurrent verifications.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Keyward } from "@keyward/client";
import { missingBinary, setUp, startKeyward, type RunningKeyward } from "./helpers.js";

function counting(calls: string[]): typeof fetch {
  return (input, init) => {
    calls.push(new URL(String(input)).pathname);
    return fetch(input, init);
  };
}

describe("cache", { skip: missingBinary() }, () => {
  let server: RunningKeyward;
  let makeKey: Awaited<ReturnType<typeof setUp>>["makeKey"];

  before(async () => {
    server = await startKeyward();
    ({ makeKey } = await setUp(server));
  });
  after(() => server?.stop());

  test("a revoked key is refused again within the TTL", async () => {
    const ttlMs = 2000;
    const created = await makeKey();
    const kw = new Keyward({ baseUrl: server.url, rootKey: server.rootKey, cacheTtlMs: ttlMs });
    assert.equal((await kw.verify(created.key, { scopes: ["data:read"] })).valid, true);
    await kw.keys.revoke(created.id);
    const revokedAt = performance.now();
    assert.equal((await kw.verify(created.key, { scopes: ["data:read"] })).valid, true); // cached
    // No question asked after the TTL is answered from the cache.
    for (;;) {
      const askedAt = performance.now();
      if (!(await kw.verify(created.key, { scopes: ["data:read"] })).valid) break;
      assert.ok(askedAt - revokedAt <= ttlMs);
      await new Promise((done) => setTimeout(done, 50));
    }
    assert.equal((await kw.verify(created.key, { scopes: ["data:read"] })).code, "REVOKED");
  });

  test("without a TTL nothing is cached", async () => {
    const created = await makeKey();
    const kw = new Keyward({ baseUrl: server.url, rootKey: server.rootKey });
    assert.equal((await kw.verify(created.key)).valid, true);
    await kw.keys.revoke(created.id);
    assert.equal((await kw.verify(created.key)).code, "REVOKED");
  });

  test("concurrent verifications of one key share one call", async () => {
    const [one, two] = [await makeKey(), await makeKey()];
    const calls: string[] = [];
    const kw = new Keyward({ baseUrl: server.url, cacheTtlMs: 5000, fetch: counting(calls) });
    const answers = await Promise.all([
      ...Array.from({ length: 50 }, () => kw.verify(one.key, { scopes: ["data:read"] })),
      ...Array.from({ length: 50 }, () => kw.verify(two.key, { scopes: ["data:read"] })),
    ]);
    assert.ok(answers.every((a) => a.valid));
    assert.equal(calls.length, 2);
    assert.equal((await kw.verify(one.key, { scopes: ["data:read"] })).valid, true);
    assert.equal(calls.length, 2);
    assert.equal((await kw.verify(one.key, { scopes: ["push:read"] })).valid, false);
    assert.equal(calls.length, 3);
  });

  test("concurrent uses of a rate-limited key each count", async () => {
    const limited = await makeKey({ ratelimit: { limit: 5, window_seconds: 60 } });
    const calls: string[] = [];
    const kw = new Keyward({ baseUrl: server.url, cacheTtlMs: 5000, fetch: counting(calls) });
    const answers = await Promise.all(Array.from({ length: 8 }, () => kw.verify(limited.key)));
    assert.equal(calls.length, 8);
    assert.deepEqual(answers.map((a) => a.code).sort(), [
      ...Array<string>(3).fill("RATE_LIMITED"),
      ...Array<string>(5).fill("VALID"),
    ]);
  });

  test("refusals and rate-limited keys are not cached", async () => {
    const limited = await makeKey({ ratelimit: { limit: 1000, window_seconds: 60 } });
    const calls: string[] = [];
    const kw = new Keyward({ baseUrl: server.url, cacheTtlMs: 5000, fetch: counting(calls) });
    for (let i = 0; i < 3; i++) assert.equal((await kw.verify(limited.key)).valid, true);
    assert.equal(calls.length, 3);
    for (let i = 0; i < 2; i++) {
      assert.equal(
        (await kw.verify(limited.key, { scopes: ["push:write"] })).code,
        "INSUFFICIENT_SCOPE",
      );
    }
    assert.equal(calls.length, 5);
  });
});
