/**
 * The client: verify keys (`POST /v1/verify`, no credential needed) and, given a root key,
 * call the management API (`client.keys`, `client.projects`, `client.audit`). Its shared
 * behaviour (timeout budget, retries, cache) is described in Keyward's `docs/clients.md`.
 */
import { ProtocolError } from "./errors.js";
import { VerificationCache, cacheKey } from "./cache.js";
import {
  parseVerification,
  type AuditEvent,
  type AuditSearchParams,
  type Key,
  type KeyCreate,
  type KeyListParams,
  type KeyUpdate,
  type Page,
  type Project,
  type ProjectCreate,
  type Usage,
  type Verification,
} from "./models.js";
import { send, type Call, type TransportOptions } from "./transport.js";

export interface KeywardOptions {
  /** Where Keyward listens, e.g. `http://keyward:8080`. */
  baseUrl: string;
  /** A root key, for the management API; not needed to verify keys. */
  rootKey?: string;
  /** Budget of a whole call, retries included (default 2000). */
  timeoutMs?: number;
  /** Retries after a connection error or a 5xx (default 2). */
  retries?: number;
  /** First backoff delay, doubled on each retry, with jitter (default 100). */
  backoffMs?: number;
  /** Keep `VALID` verifications this long (default 0: no cache). */
  cacheTtlMs?: number;
  /** Most cached verifications (default 10,000). */
  cacheMaxEntries?: number;
  /** A `fetch` of your own (default: the global one). */
  fetch?: typeof fetch;
}

export interface VerifyOptions {
  /** Scopes the key must all hold. */
  scopes?: readonly string[];
  /** The `Origin` of the request the key came with. */
  origin?: string;
  /** The address of the client that presented the key. */
  ip?: string;
}

function page<T>(body: unknown): Page<T> {
  const value = body as { data?: unknown; next_cursor?: unknown } | null;
  if (typeof value !== "object" || value === null || !Array.isArray(value.data)) {
    throw new ProtocolError("a list answer without `data`");
  }
  const cursor = typeof value.next_cursor === "string" ? value.next_cursor : null;
  return { data: value.data as T[], next_cursor: cursor };
}

const id = (value: string) => encodeURIComponent(value);

/** A Keyward client; one per process is enough (it holds the cache). */
export class Keyward {
  readonly keys: Keys;
  readonly projects: Projects;
  readonly audit: Audit;
  readonly #options: TransportOptions;
  readonly #cache: VerificationCache;

  constructor(options: KeywardOptions) {
    const timeoutMs = options.timeoutMs ?? 2000;
    const retries = options.retries ?? 2;
    if (!(timeoutMs > 0)) throw new RangeError("timeoutMs must be positive");
    if (!(retries >= 0)) throw new RangeError("retries must be 0 or more");
    this.#options = {
      baseUrl: options.baseUrl,
      rootKey: options.rootKey || null,
      timeoutMs,
      retries,
      backoffMs: options.backoffMs ?? 100,
      fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    };
    this.#cache = new VerificationCache(options.cacheTtlMs ?? 0, options.cacheMaxEntries ?? 10_000);
    this.keys = new Keys((call) => this.send(call));
    this.projects = new Projects((call) => this.send(call));
    this.audit = new Audit((call) => this.send(call));
  }

  /** @internal */
  send(call: Call): Promise<unknown> {
    return send(this.#options, call);
  }

  /**
   * Ask Keyward whether `key` may act with `scopes` (all of them). Resolves for every outcome
   * (check `.valid` and `.code`); rejects with an unavailability error when Keyward gives no
   * usable answer.
   */
  async verify(key: string, options: VerifyOptions = {}): Promise<Verification> {
    const scopes = options.scopes ?? [];
    const call = async () => {
      const body: Record<string, unknown> = { key };
      if (scopes.length > 0) body.scopes = [...scopes];
      if (options.origin !== undefined) body.origin = options.origin;
      if (options.ip !== undefined) body.ip = options.ip;
      const answer = await this.send({
        method: "POST",
        path: "/v1/verify",
        body,
        management: false,
      });
      return parseVerification(answer);
    };
    if (!this.#cache.enabled) return call();
    const name = await cacheKey(key, scopes, options.origin, options.ip);
    return this.#cache.getOrCall(name, call);
  }

  toJSON(): Record<string, unknown> {
    return { baseUrl: this.#options.baseUrl };
  }
}

type Sender = (call: Call) => Promise<unknown>;

async function* walk<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>) {
  let cursor: string | undefined;
  for (;;) {
    const current = await fetchPage(cursor);
    yield* current.data;
    if (current.next_cursor === null) return;
    cursor = current.next_cursor;
  }
}

/** `client.keys`: the key routes of the management API. */
export class Keys {
  constructor(private readonly send: Sender) {}

  /** Create a key; the answer's `key` is the full key, shown this once. */
  async create(fields: KeyCreate, options: { idempotencyKey?: string } = {}): Promise<Key> {
    // The Idempotency-Key makes a retried creation (after a lost answer) create one key.
    const idempotencyKey = options.idempotencyKey ?? `keyward-ts-${globalThis.crypto.randomUUID()}`;
    return (await this.send({
      method: "POST",
      path: "/v1/keys",
      body: fields,
      headers: { "Idempotency-Key": idempotencyKey },
    })) as Key;
  }

  /** One page of keys and the next page's cursor. */
  async listPage(params: KeyListParams & { cursor?: string } = {}): Promise<Page<Key>> {
    return page<Key>(await this.send({ method: "GET", path: "/v1/keys", query: { ...params } }));
  }

  /** Every matching key, page after page (`limit` is the page size). */
  list(params: KeyListParams = {}): AsyncGenerator<Key, void, undefined> {
    return walk((cursor) => this.listPage({ ...params, cursor }));
  }

  async get(keyId: string): Promise<Key> {
    return (await this.send({ method: "GET", path: `/v1/keys/${id(keyId)}` })) as Key;
  }

  /** Change a key; `null` clears description, expires_at, ratelimit and quota. */
  async update(keyId: string, changes: KeyUpdate): Promise<Key> {
    return (await this.send({
      method: "PATCH",
      path: `/v1/keys/${id(keyId)}`,
      body: changes,
    })) as Key;
  }

  /** A new secret for the same key (in the answer's `key`). */
  async regenerate(keyId: string, options: { gracePeriodSeconds?: number } = {}): Promise<Key> {
    const body =
      options.gracePeriodSeconds === undefined
        ? {}
        : { grace_period_seconds: options.gracePeriodSeconds };
    return (await this.send({
      method: "POST",
      path: `/v1/keys/${id(keyId)}/regenerate`,
      body,
      replaySafe: false,
    })) as Key;
  }

  async revoke(keyId: string, options: { reason?: string } = {}): Promise<Key> {
    const body = options.reason === undefined ? {} : { reason: options.reason };
    return (await this.send({
      method: "POST",
      path: `/v1/keys/${id(keyId)}/revoke`,
      body,
      replaySafe: false,
    })) as Key;
  }

  async archive(keyId: string): Promise<Key> {
    const path = `/v1/keys/${id(keyId)}/archive`;
    return (await this.send({ method: "POST", path, replaySafe: false })) as Key;
  }

  async disable(keyId: string): Promise<Key> {
    return (await this.send({ method: "POST", path: `/v1/keys/${id(keyId)}/disable` })) as Key;
  }

  async enable(keyId: string): Promise<Key> {
    return (await this.send({ method: "POST", path: `/v1/keys/${id(keyId)}/enable` })) as Key;
  }

  /** Verification counts per day or hour, by outcome code. */
  async usage(
    keyId: string,
    params: { granularity?: "day" | "hour"; from?: string | Date; to?: string | Date } = {},
  ): Promise<Usage> {
    const path = `/v1/keys/${id(keyId)}/usage`;
    return (await this.send({ method: "GET", path, query: { ...params } })) as Usage;
  }
}

/** `client.projects`. */
export class Projects {
  constructor(private readonly send: Sender) {}

  async create(fields: ProjectCreate): Promise<Project> {
    const call = { method: "POST", path: "/v1/projects", body: fields, replaySafe: false };
    return (await this.send(call)) as Project;
  }

  async list(): Promise<Project[]> {
    return page<Project>(await this.send({ method: "GET", path: "/v1/projects" })).data;
  }

  async get(projectId: string): Promise<Project> {
    return (await this.send({ method: "GET", path: `/v1/projects/${id(projectId)}` })) as Project;
  }

  async update(projectId: string, changes: Partial<ProjectCreate>): Promise<Project> {
    const path = `/v1/projects/${id(projectId)}`;
    return (await this.send({ method: "PATCH", path, body: changes })) as Project;
  }
}

/** `client.audit`: searching the audit log, newest first. */
export class Audit {
  constructor(private readonly send: Sender) {}

  async searchPage(
    params: AuditSearchParams & { cursor?: string } = {},
  ): Promise<Page<AuditEvent>> {
    return page<AuditEvent>(
      await this.send({ method: "GET", path: "/v1/audit", query: { ...params } }),
    );
  }

  /** Every matching event, newest first, page after page. */
  search(params: AuditSearchParams = {}): AsyncGenerator<AuditEvent, void, undefined> {
    return walk((cursor) => this.searchPage({ ...params, cursor }));
  }
}
