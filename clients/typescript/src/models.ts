/**
 * Typed shapes of what Keyward answers and accepts.
 *
 * {@link Verification} is parsed strictly by {@link parseVerification}: it decides whether a
 * request gets in, so an answer without the documented shape is refused, never guessed at.
 * Management objects are typed as Keyward sends them (times are RFC 3339 strings).
 */
import { ProtocolError } from "./errors.js";

export type VerificationCode =
  | "VALID"
  | "MALFORMED"
  | "NOT_FOUND"
  | "DISABLED"
  | "EXPIRED"
  | "REVOKED"
  | "INSUFFICIENT_SCOPE"
  | "ORIGIN_NOT_ALLOWED"
  | "IP_NOT_ALLOWED"
  | "RATE_LIMITED"
  | "USAGE_EXCEEDED";

/** Keyward's answer to `POST /v1/verify`. */
export interface Verification {
  valid: boolean;
  /** A {@link VerificationCode}, or `UNVERIFIED` for a `failOpen` stand-in. */
  code: VerificationCode | "UNVERIFIED" | (string & {});
  keyId: string | null;
  name: string | null;
  projectId: string | null;
  orgId: string | null;
  owner: string | null;
  role: string | null;
  scopes: string[];
  meta: Record<string, unknown>;
  expiresAt: Date | null;
  deprecated: boolean;
  ratelimit: { limit: number; remaining: number; resetAt: Date } | null;
  quota: { limit: number | null; remaining: number; refillsAt: Date | null } | null;
  /** True only for the stand-in a `failOpen` middleware lets through during an outage. */
  failOpen: boolean;
}

/** The stand-in a `failOpen` middleware lets through when Keyward cannot answer. */
export function unverified(): Verification {
  return {
    valid: true,
    code: "UNVERIFIED",
    keyId: null,
    name: null,
    projectId: null,
    orgId: null,
    owner: null,
    role: null,
    scopes: [],
    meta: {},
    expiresAt: null,
    deprecated: false,
    ratelimit: null,
    quota: null,
    failOpen: true,
  };
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function optString(body: Json, name: string): string | null {
  const value = body[name];
  if (value === undefined || value === null) return null;
  if (typeof value !== "string")
    throw new ProtocolError(`verification \`${name}\` is not a string`);
  return value;
}

function optTime(value: unknown): Date | null {
  if (value === undefined || value === null) return null;
  const time = typeof value === "string" ? new Date(value) : null;
  if (time === null || Number.isNaN(time.getTime())) {
    throw new ProtocolError("a time in the verification answer is not RFC 3339");
  }
  return time;
}

function int(value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new ProtocolError("a count in the verification answer is not an integer");
  }
  return value;
}

/** Parse an answer of `POST /v1/verify`; throws {@link ProtocolError} when it is not one. */
export function parseVerification(body: unknown): Verification {
  if (!isObject(body)) throw new ProtocolError("verification answer is not a JSON object");
  const { valid, code } = body;
  if (typeof valid !== "boolean" || typeof code !== "string") {
    throw new ProtocolError("verification answer lacks `valid` or `code`");
  }
  if (valid !== (code === "VALID")) {
    throw new ProtocolError("verification answer's `valid` and `code` disagree");
  }
  const scopes = body.scopes ?? [];
  if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === "string")) {
    throw new ProtocolError("verification answer's `scopes` is not a list of strings");
  }
  const meta = body.meta ?? {};
  if (!isObject(meta)) throw new ProtocolError("verification answer's `meta` is not an object");
  const deprecated = body.deprecated ?? false;
  if (typeof deprecated !== "boolean") {
    throw new ProtocolError("verification answer's `deprecated` is not a boolean");
  }
  let ratelimit: Verification["ratelimit"] = null;
  if (body.ratelimit !== undefined && body.ratelimit !== null) {
    const r = body.ratelimit;
    const resetAt = isObject(r) ? optTime(r.reset_at) : null;
    if (!isObject(r) || resetAt === null) {
      throw new ProtocolError("verification answer's `ratelimit` is not readable");
    }
    ratelimit = { limit: int(r.limit), remaining: int(r.remaining), resetAt };
  }
  let quota: Verification["quota"] = null;
  if (body.quota !== undefined && body.quota !== null) {
    const q = body.quota;
    if (!isObject(q)) throw new ProtocolError("verification answer's `quota` is not an object");
    quota = {
      limit: q.limit === undefined || q.limit === null ? null : int(q.limit),
      remaining: int(q.remaining),
      refillsAt: optTime(q.refills_at),
    };
  }
  return {
    valid,
    code,
    keyId: optString(body, "key_id"),
    name: optString(body, "name"),
    projectId: optString(body, "project_id"),
    orgId: optString(body, "org_id"),
    owner: optString(body, "owner"),
    role: optString(body, "role"),
    scopes: scopes as string[],
    meta,
    expiresAt: optTime(body.expires_at),
    deprecated,
    ratelimit,
    quota,
    failOpen: false,
  };
}

/** One page of a list, and the cursor of the next (null on the last). */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface RateLimit {
  limit: number;
  window_seconds: number;
}

export interface Quota {
  limit: number;
  period: "day" | "month" | "none";
  remaining?: number;
  refills_at?: string | null;
}

export type KeyStatus = "active" | "disabled" | "expired" | "revoked" | "archived";
export type Role = "admin" | "readonly" | "custom";

/** The key object (`key` only in create and regenerate answers, and publishable keys). */
export interface Key {
  id: string;
  name: string;
  description: string;
  project_id: string;
  type: "secret" | "publishable";
  role: Role;
  scopes: string[];
  access: "full" | "partial";
  status: KeyStatus;
  enabled: boolean;
  hint: string;
  created_at: string;
  created_by: string;
  updated_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  revoked_reason?: string | null;
  archived_at: string | null;
  previous_secret_expires_at?: string | null;
  leaked_at?: string | null;
  trusted_origins: string[];
  allowed_ips: string[];
  meta: Record<string, unknown>;
  ratelimit: RateLimit | null;
  quota: Quota | null;
  key?: string;
}

/** The body of key creation. */
export interface KeyCreate {
  name: string;
  description?: string;
  project_id?: string;
  type?: "secret" | "publishable";
  role?: Role;
  scopes?: string[];
  expires_at?: string | Date;
  trusted_origins?: string[];
  allowed_ips?: string[];
  meta?: Record<string, unknown>;
  enabled?: boolean;
  ratelimit?: RateLimit;
  quota?: Quota;
}

/** A key update: `null` clears description, expires_at, ratelimit and quota. */
export interface KeyUpdate {
  name?: string;
  description?: string | null;
  role?: Role;
  scopes?: string[];
  expires_at?: string | Date | null;
  trusted_origins?: string[];
  allowed_ips?: string[];
  meta?: Record<string, unknown>;
  enabled?: boolean;
  ratelimit?: RateLimit | null;
  quota?: Quota | null;
}

export interface KeyListParams {
  status?: KeyStatus;
  project_id?: string;
  type?: "secret" | "publishable";
  q?: string;
  sort?:
    | "created_at"
    | "-created_at"
    | "name"
    | "scope"
    | "-scope"
    | "last_used_at"
    | "-last_used_at"
    | "expires_at";
  limit?: number;
}

export interface Project {
  id: string;
  name: string;
  key_prefix: string;
  apis: string[];
  management: boolean;
  created_at: string;
  updated_at: string;
}

export interface ProjectCreate {
  name: string;
  key_prefix?: string;
  apis?: string[];
}

export interface AuditEvent {
  id: string;
  seq: number;
  occurred_at: string;
  org_id: string;
  actor: { type: "member" | "root_key" | "system"; id: string; name: string };
  team: string | null;
  action: string;
  target: { type: string; id: string; name: string };
  ip: string | null;
  user_agent: string | null;
  changes: Record<string, { before: unknown; after: unknown }>;
  prev_hash: string;
  hash: string;
}

export interface AuditSearchParams {
  action?: string;
  actor?: string;
  team?: string;
  target?: string;
  from?: string | Date;
  to?: string | Date;
  q?: string;
  limit?: number;
}

export interface Usage {
  key_id: string;
  granularity: "day" | "hour";
  data: { start: string; counts: Record<string, number>; total: number }[];
}
