/**
 * What every middleware does, written once: read the key, verify, decide, answer.
 *
 * Answers mirror Keyward's forward-auth endpoint `GET /v1/auth`: 401 (with
 * `WWW-Authenticate: Bearer`) for a missing, malformed, unknown, disabled, expired or revoked
 * key; 403 for scope, origin or address; 429 with `Retry-After` for a rate limit or quota; 503
 * when Keyward gives no usable answer, unless `failOpen`. Each is `application/problem+json`
 * whose `code` is the verification code (`MALFORMED` also for a missing key, `UNAVAILABLE` for
 * the 503), also sent as `X-Keyward-Code`.
 */
import { isUnavailable } from "./errors.js";
import { unverified, type Verification } from "./models.js";

const STATUS: Record<string, [number, string]> = {
  MALFORMED: [401, "The API key is missing or malformed"],
  NOT_FOUND: [401, "The API key is not known"],
  DISABLED: [401, "The API key is disabled"],
  EXPIRED: [401, "The API key has expired"],
  REVOKED: [401, "The API key has been revoked"],
  INSUFFICIENT_SCOPE: [403, "The API key lacks a scope this request needs"],
  ORIGIN_NOT_ALLOWED: [403, "The API key may not be used from this origin"],
  IP_NOT_ALLOWED: [403, "The API key may not be used from this address"],
  RATE_LIMITED: [429, "The API key's rate limit is spent"],
  USAGE_EXCEEDED: [429, "The API key's quota is spent"],
  UNAVAILABLE: [503, "API keys cannot be checked right now"],
};

/** A refusal: status, headers and problem+json body. */
export interface Denial {
  status: number;
  code: string;
  headers: Record<string, string>;
  body: string;
}

/** Where the middleware logs (default: the console). */
export interface Logger {
  warn(message: string): void;
  error(message: string): void;
}

/** What a middleware needs from a client (a `Keyward`, or a test double). */
export interface Verifier {
  verify(
    key: string,
    options?: { scopes?: readonly string[]; origin?: string; ip?: string },
  ): Promise<Verification>;
}

/** What a request shows Keyward. */
export interface Presented {
  key: string | undefined;
  origin: string | undefined;
  ip: string | undefined;
  method: string;
  path: string;
}

export interface GuardOptions {
  /** Scopes the key must all hold. */
  scopes?: readonly string[];
  /** Let requests through when Keyward gives no usable answer, logging each (default false). */
  failOpen?: boolean;
  logger?: Logger;
}

function retryAfter(code: string, verification: Verification | undefined): number {
  let when: Date | null = null;
  if (code === "RATE_LIMITED") when = verification?.ratelimit?.resetAt ?? null;
  if (code === "USAGE_EXCEEDED") {
    if (verification?.quota && verification.quota.refillsAt === null) return 86_400;
    when = verification?.quota?.refillsAt ?? null;
  }
  if (when === null) return code === "RATE_LIMITED" ? 1 : 86_400;
  return Math.max(1, Math.ceil((when.getTime() - Date.now()) / 1000));
}

/** The refusal for a verification code (unknown codes refuse with 401). */
export function denial(code: string, verification?: Verification): Denial {
  const [status, title] = STATUS[code] ?? [401, "The API key was refused"];
  const headers: Record<string, string> = {
    "Content-Type": "application/problem+json",
    "X-Keyward-Code": code,
  };
  if (status === 401) headers["WWW-Authenticate"] = "Bearer";
  if (status === 429) headers["Retry-After"] = String(retryAfter(code, verification));
  const body = JSON.stringify({
    type: `urn:keyward:problem:${code.toLowerCase()}`,
    title,
    status,
    detail: title,
    code,
  });
  return { status, code, headers, body };
}

/** The key of `Authorization: Bearer <key>`, else of `X-API-Key`; undefined when absent. */
export function keyFromHeaders(
  authorization: string | null | undefined,
  apiKey: string | null | undefined,
): string | undefined {
  if (authorization) {
    const match = /^\s*bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match?.[1]) return match[1];
  }
  const key = apiKey?.trim();
  return key ? key : undefined;
}

/** `value` when it is an IP address (brackets, a port and `::ffff:` kept out), else undefined. */
export function clientAddress(value: string | null | undefined): string | undefined {
  if (!value) return undefined;
  let text = value.trim();
  const bracketed = /^\[([^\]]+)\]/.exec(text);
  if (bracketed?.[1]) text = bracketed[1];
  else if (/^[\d.]+:\d+$/.test(text)) text = text.split(":")[0] ?? "";
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) return text;
  if (/^[0-9a-fA-F:.]+$/.test(text) && text.includes(":")) return text;
  return undefined;
}

/** Verify a request's key and decide: its verification, or the refusal to answer. */
export async function check(
  client: Verifier,
  request: Presented,
  options: GuardOptions = {},
): Promise<Verification | Denial> {
  const logger = options.logger ?? console;
  if (request.key === undefined) return denial("MALFORMED");
  let verification: Verification;
  try {
    verification = await client.verify(request.key, {
      scopes: options.scopes ?? [],
      ...(request.origin === undefined ? {} : { origin: request.origin }),
      ...(request.ip === undefined ? {} : { ip: request.ip }),
    });
  } catch (error) {
    // Names the failure and the request, never the key.
    const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    if (options.failOpen === true && isUnavailable(error)) {
      logger.warn(`keyward: failing open for ${request.method} ${request.path}: ${what}`);
      return unverified();
    }
    logger.error(`keyward: refusing ${request.method} ${request.path}: ${what}`);
    return denial("UNAVAILABLE");
  }
  if (verification.valid && verification.code === "VALID") return verification;
  return denial(verification.code, verification);
}

export function isDenial(decision: Verification | Denial): decision is Denial {
  return "body" in decision && "status" in decision;
}
