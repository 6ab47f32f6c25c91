// Every method of the client against a real `keyward serve`.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { inspect } from "node:util";
import { ApiError, Keyward, KeywardError, type Key } from "@keyward/client";
import { missingBinary, setUp, startKeyward, type RunningKeyward } from "./helpers.js";

describe("client", { skip: missingBinary() }, () => {
  let server: RunningKeyward;
  let kw: Keyward;
  let projectId: string;
  let makeKey: Awaited<ReturnType<typeof setUp>>["makeKey"];

  before(async () => {
    server = await startKeyward();
    ({ projectId, makeKey } = await setUp(server));
    kw = new Keyward({ baseUrl: server.url, rootKey: server.rootKey });
  });
  after(() => server?.stop());

  test("verify answers every outcome, with origin and address", async () => {
    const created = await makeKey({ scopes: ["data:read"], meta: { plan: "pro" } });
    const ok = await kw.verify(created.key, { scopes: ["data:read"] });
    assert.equal(ok.valid, true);
    assert.equal(ok.code, "VALID");
    assert.equal(ok.keyId, created.id);
    assert.deepEqual(ok.scopes, ["data:read"]);
    assert.deepEqual(ok.meta, { plan: "pro" });
    assert.equal(
      (await kw.verify(created.key, { scopes: ["data:write"] })).code,
      "INSUFFICIENT_SCOPE",
    );
    assert.equal((await kw.verify("not a key")).code, "MALFORMED");

    const fenced = await makeKey({
      trusted_origins: ["https://app.acme.example"],
      allowed_ips: ["10.0.0.0/8"],
    });
    const from = { origin: "https://app.acme.example", ip: "10.1.2.3" };
    assert.equal((await kw.verify(fenced.key, from)).valid, true);
    assert.equal(
      (await kw.verify(fenced.key, { ...from, origin: "https://evil.example" })).code,
      "ORIGIN_NOT_ALLOWED",
    );
    assert.equal(
      (await kw.verify(fenced.key, { ...from, ip: "192.0.2.1" })).code,
      "IP_NOT_ALLOWED",
    );
  });

  test("a key's whole lifecycle", async () => {
    const created = await kw.keys.create({
      name: "lifecycle",
      project_id: projectId,
      scopes: ["data:read"],
      description: "first",
      expires_at: new Date(Date.now() + 3 * 86_400_000),
    });
    assert.match(created.key!, /^wid_sk_/);
    assert.equal("key" in (await kw.keys.get(created.id)), false);

    const updated = await kw.keys.update(created.id, {
      name: "renamed",
      description: null,
      scopes: ["push:*"],
    });
    assert.deepEqual(
      [updated.name, updated.description, updated.scopes],
      ["renamed", "", ["push:*"]],
    );
    assert.equal((await kw.verify(created.key!, { scopes: ["push:send"] })).valid, true);

    assert.equal((await kw.keys.disable(created.id)).enabled, false);
    assert.equal((await kw.verify(created.key!)).code, "DISABLED");
    assert.equal((await kw.keys.enable(created.id)).enabled, true);

    const regenerated = await kw.keys.regenerate(created.id, { gracePeriodSeconds: 60 });
    assert.notEqual(regenerated.key, created.key);
    const old = await kw.verify(created.key!);
    assert.equal(old.valid, true);
    assert.equal(old.deprecated, true);

    assert.equal((await kw.keys.revoke(created.id, { reason: "test" })).status, "revoked");
    assert.equal((await kw.verify(regenerated.key!)).code, "REVOKED");
    assert.equal((await kw.keys.archive(created.id)).status, "archived");
    const archived: Key[] = [];
    for await (const key of kw.keys.list({ status: "archived" })) archived.push(key);
    assert.ok(archived.some((k) => k.id === created.id));
    assert.equal((await kw.keys.usage(created.id, { granularity: "hour" })).key_id, created.id);
  });

  test("list filters and walks every page", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      ids.add(
        (await kw.keys.create({ name: `paging ${i}`, project_id: projectId, description: "zebra" }))
          .id,
      );
    }
    const first = await kw.keys.listPage({ q: "zebra", limit: 2 });
    assert.equal(first.data.length, 2);
    assert.notEqual(first.next_cursor, null);
    const names: string[] = [];
    for await (const key of kw.keys.list({ q: "zebra", limit: 2, sort: "name" }))
      names.push(key.name);
    assert.deepEqual(
      names,
      [0, 1, 2, 3, 4].map((i) => `paging ${i}`),
    );
  });

  test("projects", async () => {
    const created = await kw.projects.create({
      name: "Gadgets",
      key_prefix: "gad",
      apis: ["data"],
    });
    assert.equal(created.key_prefix, "gad");
    assert.ok((await kw.projects.list()).some((p) => p.id === created.id));
    assert.equal((await kw.projects.get(created.id)).name, "Gadgets");
    assert.deepEqual((await kw.projects.update(created.id, { apis: ["data", "push"] })).apis, [
      "data",
      "push",
    ]);
  });

  test("audit search pages", async () => {
    const created = await kw.keys.create({ name: "audited", project_id: projectId });
    await kw.keys.update(created.id, { description: "changed" });
    const actions: string[] = [];
    for await (const event of kw.audit.search({ target: created.id, limit: 1 }))
      actions.push(event.action);
    assert.deepEqual(actions, ["key.updated", "key.created"]);
    const page = await kw.audit.searchPage({ action: "key.created", target: created.id });
    assert.equal(page.data[0]?.actor.type, "root_key");
  });

  test("problems become typed errors with their code", async () => {
    await assert.rejects(kw.keys.get("key_00000000000000000000"), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, 404);
      assert.equal(e.code, "not_found");
      return true;
    });
    await assert.rejects(
      kw.keys.create({ name: "bad", project_id: projectId, scopes: ["nope:read"] }),
      (e: unknown) =>
        e instanceof ApiError &&
        e.code === "validation_failed" &&
        e.errors[0]!.field.startsWith("scopes"),
    );
    await assert.rejects(
      kw.projects.create({ name: "Widgets" }),
      (e: unknown) => e instanceof ApiError && e.code === "conflict",
    );
    const stranger = new Keyward({ baseUrl: server.url, rootKey: "kwroot_sk_nope" });
    await assert.rejects(
      stranger.keys.get("key_00000000000000000000"),
      (e: unknown) => e instanceof ApiError && e.code === "unauthorized",
    );
    await assert.rejects(new Keyward({ baseUrl: server.url }).keys.listPage(), KeywardError);
  });

  test("creation with one Idempotency-Key makes one key", async () => {
    const a = await kw.keys.create(
      { name: "idem", project_id: projectId },
      { idempotencyKey: "i-1" },
    );
    const b = await kw.keys.create(
      { name: "idem", project_id: projectId },
      { idempotencyKey: "i-1" },
    );
    assert.equal(a.id, b.id);
  });

  test("the root key never shows", () => {
    assert.equal(inspect(kw, { depth: 10, showHidden: true }).includes(server.rootKey), false);
    assert.equal(JSON.stringify(kw).includes(server.rootKey), false);
  });
});
