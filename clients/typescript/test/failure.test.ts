// Keyward stopped, slow, failing or talking nonsense: the client fails closed, in time.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ApiError,
  Keyward,
  ProtocolError,
  ServerError,
  TimeoutError,
  UnavailableError,
  check,
  isDenial,
  isUnavailable,
} from "@keyward/client";
import {
  blackhole,
  deadUrl,
  memoryLogger,
  missingBinary,
  scripted,
  startKeyward,
} from "./helpers.js";

const KEY = `kw_sk_${"a".repeat(38)}`;
const VALID = JSON.stringify({ valid: true, code: "VALID", key_id: "key_x", scopes: [] });
const request = { key: KEY, origin: undefined, ip: undefined, method: "GET", path: "/orders" };

describe("failure modes", { skip: missingBinary() }, () => {
  test("a stopped Keyward is unavailable after bounded retries", async () => {
    const server = await startKeyward();
    const created = await server.admin("POST", "/v1/keys", { name: "k" });
    const kw = new Keyward({ baseUrl: server.url, retries: 2, backoffMs: 50 });
    assert.equal((await kw.verify(created.key)).valid, true);
    await server.stop();
    const started = performance.now();
    await assert.rejects(
      kw.verify(created.key),
      (e: unknown) => e instanceof UnavailableError && !(e instanceof TimeoutError),
    );
    assert.ok(performance.now() - started < 2000); // two short backoffs, not the budget
  });

  test("a slow Keyward times out within the budget, retries included", async () => {
    const hole = await blackhole();
    try {
      let started = performance.now();
      await assert.rejects(
        new Keyward({ baseUrl: hole.url, timeoutMs: 500, retries: 3 }).verify(KEY),
        TimeoutError,
      );
      const elapsed = performance.now() - started;
      // The budget is for the call: four tries would take 2 s.
      assert.ok(elapsed > 400 && elapsed < 1500, String(elapsed));
      started = performance.now();
      await assert.rejects(new Keyward({ baseUrl: hole.url }).verify(KEY), TimeoutError);
      const defaultElapsed = performance.now() - started;
      assert.ok(defaultElapsed > 1900 && defaultElapsed < 3500, String(defaultElapsed));
    } finally {
      await hole.close();
    }
  });

  test("5xx is retried a bounded number of times", async () => {
    const failing = await scripted([[503, JSON.stringify({ code: "storage_unavailable" })]]);
    await assert.rejects(
      new Keyward({ baseUrl: failing.url, retries: 2, backoffMs: 10 }).verify(KEY),
      (e: unknown) =>
        e instanceof ServerError && e.code === "storage_unavailable" && isUnavailable(e),
    );
    assert.equal(failing.seen.length, 3);
    await failing.close();

    const recovering = await scripted([
      [502, "{}"],
      [500, "oops"],
      [200, VALID],
    ]);
    assert.equal(
      (await new Keyward({ baseUrl: recovering.url, retries: 2, backoffMs: 10 }).verify(KEY)).valid,
      true,
    );
    assert.equal(recovering.seen.length, 3);
    await recovering.close();
  });

  test("4xx is not retried, and unsafe calls are not replayed", async () => {
    const invalid = await scripted([
      [422, JSON.stringify({ code: "validation_failed", errors: [] })],
    ]);
    await assert.rejects(new Keyward({ baseUrl: invalid.url, retries: 3 }).verify(KEY), ApiError);
    assert.equal(invalid.seen.length, 1);
    await invalid.close();
    const failing = await scripted([[503, "{}"]]);
    await assert.rejects(
      new Keyward({ baseUrl: failing.url, rootKey: "r", retries: 3, backoffMs: 10 }).keys.revoke(
        "key_1",
      ),
      ServerError,
    );
    assert.equal(failing.seen.length, 1);
    await failing.close();
  });

  test("unreadable answers fail closed", async () => {
    const bodies = [
      "not json",
      "[]",
      JSON.stringify({ valid: true }),
      JSON.stringify({ valid: true, code: "REVOKED" }),
      JSON.stringify({ valid: "yes", code: "VALID" }),
      JSON.stringify({ valid: true, code: "VALID", scopes: "data:read" }),
    ];
    for (const body of bodies) {
      const server = await scripted([[200, body]]);
      const kw = new Keyward({ baseUrl: server.url });
      await assert.rejects(kw.verify(KEY), ProtocolError, body);
      const decision = await check(kw, request, { logger: memoryLogger() });
      assert.ok(isDenial(decision) && decision.status === 503, body);
      await server.close();
    }
  });

  test("fail open is explicit and logs every use, without the key", async () => {
    const kw = new Keyward({ baseUrl: await deadUrl(), retries: 0 });
    const logger = memoryLogger();
    const closed = await check(kw, request, { logger });
    assert.ok(isDenial(closed) && closed.status === 503 && closed.code === "UNAVAILABLE");
    for (let i = 0; i < 2; i++) {
      const opened = await check(kw, request, { failOpen: true, logger });
      assert.ok(!isDenial(opened) && opened.failOpen && opened.code === "UNVERIFIED");
    }
    const uses = logger.lines.filter((l) => l.includes("failing open"));
    assert.equal(uses.length, 2);
    assert.match(uses[0]!, /^warn keyward: failing open for GET \/orders: UnavailableError/);
    assert.ok(logger.lines.every((l) => !l.includes(KEY)));
  });
});
