/**
 * A real `keyward serve` for the tests, and the small servers around it.
 *
 * The binary is `$KEYWARD_BIN` (CI sets it to the workspace's `target/debug/keyward`), else
 * `../../target/debug/keyward` from this client's directory. Without it the suites skip,
 * except under `CI=true`, where they fail.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, openSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createNetServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Verification } from "@keyward/client";

const clientDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const keywardBin = resolve(
  process.env.KEYWARD_BIN ?? join(clientDir, "../../target/debug/keyward"),
);

/** `false` when the binary is there; else why the suites skip (under CI=true: throws). */
export function missingBinary(): string | false {
  if (existsSync(keywardBin)) return false;
  const reason = `no keyward binary at ${keywardBin} (build it, or set KEYWARD_BIN)`;
  if (process.env.CI === "true") throw new Error(reason);
  return reason;
}

export interface RunningKeyward {
  url: string;
  rootKey: string;
  orgId: string;
  process: ChildProcess;
  dataDir: string;
  stop(): Promise<void>;
  admin(method: string, path: string, body?: unknown): Promise<any>;
}

export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

export async function startKeyward(...args: string[]): Promise<RunningKeyward> {
  const dataDir = mkdtempSync(join(tmpdir(), "keyward-ts-"));
  const created = spawnSync(
    keywardBin,
    [
      "--data-dir",
      dataDir,
      "org",
      "create",
      "--name",
      "Acme",
      "--owner-email",
      "ops@acme.example",
      "--json",
    ],
    { encoding: "utf8" },
  );
  if (created.status !== 0) throw new Error(`org create failed: ${created.stderr}`);
  const org = JSON.parse(created.stdout) as { root_key: string; org_id: string };
  const port = await freePort();
  const log = openSync(join(dataDir, "server.log"), "w");
  const child = spawn(
    keywardBin,
    ["--data-dir", dataDir, "serve", "--addr", `127.0.0.1:${port}`, ...args],
    { stdio: ["ignore", log, log] },
  );
  const url = `http://127.0.0.1:${port}`;
  const running: RunningKeyward = {
    url,
    rootKey: org.root_key,
    orgId: org.org_id,
    process: child,
    dataDir,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((done) => child.once("exit", done));
      child.kill("SIGTERM");
      await exited;
    },
    async admin(method, path, body) {
      const init: RequestInit = {
        method,
        headers: { Authorization: `Bearer ${org.root_key}`, "Content-Type": "application/json" },
      };
      if (body !== undefined) init.body = JSON.stringify(body);
      const response = await fetch(url + path, init);
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },
  };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error("keyward serve exited");
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return running;
    } catch {
      // not listening yet
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  await running.stop();
  throw new Error("keyward serve did not get ready");
}

/** A project with the catalog `data, push`, and a key maker for it. */
export async function setUp(keyward: RunningKeyward) {
  const project = await keyward.admin("POST", "/v1/projects", {
    name: "Widgets",
    key_prefix: "wid",
    apis: ["data", "push"],
  });
  const makeKey = async (fields: Record<string, unknown> = {}) => {
    const body: Record<string, unknown> = { name: "test key", project_id: project.id, ...fields };
    if (body.role === undefined && body.scopes === undefined) body.scopes = ["data:read"];
    return (await keyward.admin("POST", "/v1/keys", body)) as { id: string; key: string };
  };
  return { projectId: project.id as string, makeKey };
}

/** A TCP server that accepts and never answers: a Keyward too slow. */
export async function blackhole(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  const server = createNetServer((socket) => sockets.push(socket));
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/** An HTTP server answering each request with the next scripted (status, body). */
export async function scripted(answers: [number, string][]) {
  const seen: string[] = [];
  const server = createHttpServer((req: IncomingMessage, res) => {
    req.resume();
    req.on("end", () => {
      const [status, body] = answers[Math.min(seen.length, answers.length - 1)]!;
      seen.push(req.url ?? "");
      res.writeHead(status, { "Content-Type": "application/json" }).end(body);
    });
  });
  const url = await listen(server);
  return { url, seen, close: () => close(server) };
}

export async function listen(server: Server): Promise<string> {
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

export async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((done) => server.close(() => done()));
}

/** A URL where nothing listens. */
export async function deadUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

/** The verified key as a handler sees it: what each app's `/data` answers. */
export function echo(key: Verification | undefined) {
  return {
    key_id: key?.keyId ?? null,
    org_id: key?.orgId ?? null,
    project_id: key?.projectId ?? null,
    scopes: key?.scopes ?? [],
    meta: key?.meta ?? {},
  };
}

/**
 * Checks every framework integration must pass: `GET /data` needs `data:read` and answers
 * {@link echo} of the verified key; the request's `Origin` and address reach Keyward.
 */
export async function checkApp(
  base: string,
  keyward: RunningKeyward,
  projectId: string,
  makeKey: (fields?: Record<string, unknown>) => Promise<{ id: string; key: string }>,
  assert: typeof import("node:assert/strict"),
): Promise<void> {
  const meta = { plan: "pro", seats: 3, tags: ["beta"] };
  const readable = await makeKey({ scopes: ["data:read", "push:write"], meta });
  const writable = await makeKey({ scopes: ["data:write"] });
  const limited = await makeKey({ ratelimit: { limit: 1, window_seconds: 3600 } });
  // Keys that only a request showing its Origin and client address (127.0.0.1) can use.
  const origin = "https://app.acme.example";
  const fencedOrigin = await makeKey({ trusted_origins: [origin] });
  const local = await makeKey({ allowed_ips: ["127.0.0.1/32"] });
  const elsewhere = await makeKey({ allowed_ips: ["10.0.0.0/8"] });
  const get = (headers: Record<string, string> = {}) => fetch(`${base}/data`, { headers });
  const refused = async (answer: Response, status: number, code: string) => {
    assert.equal(answer.status, status);
    assert.equal(answer.headers.get("content-type"), "application/problem+json");
    assert.equal(answer.headers.get("x-keyward-code"), code);
    const problem = (await answer.json()) as { code: string; status: number };
    assert.equal(problem.code, code);
    assert.equal(problem.status, status);
  };

  const ok = await get({ Authorization: `Bearer ${readable.key}` });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), {
    key_id: readable.id,
    org_id: keyward.orgId,
    project_id: projectId,
    scopes: ["data:read", "push:write"],
    meta,
  });
  assert.equal((await get({ "X-API-Key": readable.key })).status, 200);

  const missing = await get();
  await refused(missing, 401, "MALFORMED");
  assert.equal(missing.headers.get("www-authenticate"), "Bearer");
  assert.equal((await get({ Authorization: `Bearer kw_sk_${"0".repeat(38)}` })).status, 401);
  const scope = await get({ Authorization: `Bearer ${writable.key}` });
  await refused(scope, 403, "INSUFFICIENT_SCOPE");
  assert.equal(scope.headers.get("www-authenticate"), null);

  // The request's Origin reaches Keyward: the right one passes, another or none is refused.
  const through = await get({ "X-API-Key": fencedOrigin.key, Origin: origin });
  assert.equal(through.status, 200);
  assert.equal(((await through.json()) as { key_id: string }).key_id, fencedOrigin.id);
  const evil = await get({ "X-API-Key": fencedOrigin.key, Origin: "https://evil.example" });
  await refused(evil, 403, "ORIGIN_NOT_ALLOWED");
  await refused(await get({ "X-API-Key": fencedOrigin.key }), 403, "ORIGIN_NOT_ALLOWED");

  // So does the client's address (the TCP peer, 127.0.0.1).
  const near = await get({ "X-API-Key": local.key });
  assert.equal(near.status, 200);
  assert.equal(((await near.json()) as { key_id: string }).key_id, local.id);
  await refused(await get({ "X-API-Key": elsewhere.key }), 403, "IP_NOT_ALLOWED");

  assert.equal((await get({ "X-API-Key": limited.key })).status, 200);
  const throttled = await get({ "X-API-Key": limited.key });
  await refused(throttled, 429, "RATE_LIMITED");
  const retryAfter = Number(throttled.headers.get("retry-after"));
  assert.ok(retryAfter >= 1 && retryAfter <= 3600, String(retryAfter));

  assert.equal((await fetch(`${base}/healthz`)).status, 200);
}

export async function checkUnavailable(base: string, assert: typeof import("node:assert/strict")) {
  const refused = await fetch(`${base}/data`, {
    headers: { "X-API-Key": `kw_sk_${"0".repeat(38)}` },
  });
  assert.equal(refused.status, 503);
  assert.equal(((await refused.json()) as { code: string }).code, "UNAVAILABLE");
}

/** A logger that remembers what it was told. */
export function memoryLogger() {
  const lines: string[] = [];
  return {
    lines,
    warn: (message: string) => void lines.push(`warn ${message}`),
    error: (message: string) => void lines.push(`error ${message}`),
  };
}
