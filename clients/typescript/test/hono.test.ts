// Hono: the keyward middleware in an app served by @hono/node-server.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import { Keyward, type Verifier } from "@keyward/client";
import { keyward, type KeywardVariables } from "@keyward/client/hono";
import {
  checkApp,
  checkUnavailable,
  deadUrl,
  echo,
  memoryLogger,
  missingBinary,
  setUp,
  startKeyward,
  type RunningKeyward,
} from "./helpers.js";

function app(client: Verifier, failOpen = false, logger = memoryLogger()) {
  const app = new Hono<{ Variables: KeywardVariables }>();
  app.use("/data", keyward(client, { scopes: ["data:read"], failOpen, logger }));
  app.get("/data", (c) => c.json(echo(c.get("keyward"))));
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  return app;
}

async function start(
  handler: Hono<{ Variables: KeywardVariables }>,
): Promise<[string, ServerType]> {
  return new Promise((done) => {
    const server = serve({ fetch: handler.fetch, hostname: "127.0.0.1", port: 0 }, (info) =>
      done([`http://127.0.0.1:${info.port}`, server]),
    );
  });
}

async function stop(server: ServerType): Promise<void> {
  (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
  await new Promise<void>((done) => server.close(() => done()));
}

describe("hono", { skip: missingBinary() }, () => {
  let kw: RunningKeyward;
  let projectId: string;
  let makeKey: Awaited<ReturnType<typeof setUp>>["makeKey"];

  before(async () => {
    kw = await startKeyward();
    ({ projectId, makeKey } = await setUp(kw));
  });
  after(() => kw?.stop());

  test("the middleware lets in valid keys, passing on Origin and address; refuses like /v1/auth", async () => {
    const [base, server] = await start(app(new Keyward({ baseUrl: kw.url })));
    try {
      await checkApp(base, kw, projectId, makeKey, assert);
    } finally {
      await stop(server);
    }
  });

  test("fails closed, and open only when asked", async () => {
    const unreachable = new Keyward({ baseUrl: await deadUrl(), retries: 0 });
    let [base, server] = await start(app(unreachable));
    await checkUnavailable(base, assert);
    await stop(server);
    const logger = memoryLogger();
    [base, server] = await start(app(unreachable, true, logger));
    const answer = await fetch(`${base}/data`, {
      headers: { "X-API-Key": `kw_sk_${"1".repeat(38)}` },
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(await answer.json(), echo(undefined));
    assert.ok(logger.lines.some((l) => l.includes("failing open for GET /data")));
    await stop(server);
  });
});
