// Express: requireKey in an app serving real HTTP.
import assert from "node:assert/strict";
import type { Server } from "node:http";
import { after, before, describe, test } from "node:test";
import express from "express";
import { Keyward, type Verifier } from "@keyward/client";
import { requireKey } from "@keyward/client/express";
import {
  checkApp,
  checkUnavailable,
  close,
  deadUrl,
  echo,
  memoryLogger,
  missingBinary,
  setUp,
  startKeyward,
  type RunningKeyward,
} from "./helpers.js";

function app(client: Verifier, failOpen = false, logger = memoryLogger()) {
  const app = express();
  app.get("/data", requireKey(client, { scopes: ["data:read"], failOpen, logger }), (req, res) => {
    res.json(echo(req.keyward));
  });
  app.get("/healthz", (_req, res) => res.json({ status: "ok" }));
  return app;
}

async function serve(handler: express.Express): Promise<[string, Server]> {
  const server = handler.listen(0, "127.0.0.1");
  await new Promise((done) => server.once("listening", done));
  return [`http://127.0.0.1:${(server.address() as { port: number }).port}`, server];
}

describe("express", { skip: missingBinary() }, () => {
  let keyward: RunningKeyward;
  let projectId: string;
  let makeKey: Awaited<ReturnType<typeof setUp>>["makeKey"];

  before(async () => {
    keyward = await startKeyward();
    ({ projectId, makeKey } = await setUp(keyward));
  });
  after(() => keyward?.stop());

  test("requireKey lets in valid keys, passing on Origin and address; refuses like /v1/auth", async () => {
    const [base, server] = await serve(app(new Keyward({ baseUrl: keyward.url })));
    try {
      await checkApp(base, keyward, projectId, makeKey, assert);
    } finally {
      await close(server);
    }
  });

  test("fails closed, and open only when asked", async () => {
    const unreachable = new Keyward({ baseUrl: await deadUrl(), retries: 0 });
    let [base, server] = await serve(app(unreachable));
    await checkUnavailable(base, assert);
    await close(server);
    const logger = memoryLogger();
    [base, server] = await serve(app(unreachable, true, logger));
    const answer = await fetch(`${base}/data`, {
      headers: { "X-API-Key": `kw_sk_${"1".repeat(38)}` },
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(await answer.json(), echo(undefined));
    assert.ok(logger.lines.some((l) => l.includes("failing open for GET /data")));
    await close(server);
  });
});
