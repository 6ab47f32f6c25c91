/**
 * Sending a request to Keyward: deadline, bounded retries with backoff, error mapping.
 *
 * The timeout is the budget of the whole call, retries included. Retried: a connection that
 * could not be opened (nothing was sent), and, for calls safe to send twice (reads,
 * verification, updates, creation with its `Idempotency-Key`), a connection lost mid-way or a
 * 5xx answer. Never retried: 4xx answers.
 */
import {
  ApiError,
  KeywardError,
  ProtocolError,
  RateLimitedError,
  ServerError,
  TimeoutError,
  UnavailableError,
  type FieldError,
  type Problem,
} from "./errors.js";

export const VERSION = "0.1.0";

export interface TransportOptions {
  baseUrl: string;
  rootKey: string | null;
  timeoutMs: number;
  retries: number;
  backoffMs: number;
  fetch: typeof fetch;
}

/** One API request, before it is sent. */
export interface Call {
  method: string;
  path: string;
  query?: Record<string, string | number | Date | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /** False for `/v1/verify`, which takes no root key. */
  management?: boolean;
  /** False when sending it twice could do twice what it does. */
  replaySafe?: boolean;
}

/** Errors of `fetch` that mean the request never reached Keyward. */
const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

function errorCode(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  return typeof cause?.code === "string" ? cause.code : undefined;
}

function queryValue(value: string | number | Date): string {
  return value instanceof Date ? value.toISOString() : String(value);
}

function url(options: TransportOptions, call: Call): string {
  const target = new URL(options.baseUrl.replace(/\/+$/, "") + call.path);
  for (const [name, value] of Object.entries(call.query ?? {})) {
    if (value !== undefined) target.searchParams.set(name, queryValue(value));
  }
  return target.toString();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function decode(response: Response): Promise<unknown> {
  const text = await response.text();
  if (response.ok) {
    if (response.status === 204 || text === "") return null;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ProtocolError(`Keyward answered ${response.status} with a body that is not JSON`);
    }
  }
  let parsed: Record<string, unknown> = {};
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      parsed = value as Record<string, unknown>;
    }
  } catch {
    // not JSON: the status speaks alone
  }
  const problem: Problem = {
    status: response.status,
    code: typeof parsed.code === "string" ? parsed.code : `http_${response.status}`,
    title: typeof parsed.title === "string" ? parsed.title : response.statusText,
    detail: typeof parsed.detail === "string" ? parsed.detail : "",
    errors: Array.isArray(parsed.errors) ? (parsed.errors as FieldError[]) : [],
    requestId: response.headers.get("x-request-id"),
  };
  if (response.status === 429) {
    const retryAfter = Number(response.headers.get("retry-after") ?? Number.NaN);
    throw new RateLimitedError(problem, Number.isFinite(retryAfter) ? retryAfter : null);
  }
  if (response.status >= 500) throw new ServerError(problem);
  throw new ApiError(problem);
}

/** Send `call` with retries within the timeout budget; its decoded JSON answer. */
export async function send(options: TransportOptions, call: Call): Promise<unknown> {
  const headers: Record<string, string> = { Accept: "application/json", ...call.headers };
  if (call.management !== false) {
    if (options.rootKey === null) {
      throw new KeywardError("this call needs a root key: new Keyward({ rootKey })");
    }
    headers.Authorization = `Bearer ${options.rootKey}`;
  }
  let body: string | undefined;
  if (call.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(call.body);
  }
  const target = url(options, call);
  const replaySafe = call.replaySafe !== false;
  const deadline = Date.now() + options.timeoutMs;
  const timedOut = () => new TimeoutError(`Keyward did not answer within ${options.timeoutMs} ms`);

  for (let attempt = 0; ; attempt += 1) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw timedOut();
    const signal = AbortSignal.timeout(remaining);
    let failure: KeywardError;
    try {
      const init: RequestInit = { method: call.method, headers, signal };
      if (body !== undefined) init.body = body;
      const response = await options.fetch(target, init);
      if (response.status < 500 || !replaySafe || attempt >= options.retries) {
        return await decode(response);
      }
      await response.body?.cancel();
      failure = new ServerError({
        status: response.status,
        code: `http_${response.status}`,
        title: response.statusText,
        detail: "",
        errors: [],
        requestId: response.headers.get("x-request-id"),
      });
    } catch (error) {
      if (error instanceof KeywardError) throw error;
      if (signal.aborted) throw timedOut();
      const code = errorCode(error);
      failure = new UnavailableError(`cannot reach Keyward: ${code ?? String(error)}`);
      if (!replaySafe && !(code !== undefined && NOT_SENT.has(code))) throw failure;
      if (attempt >= options.retries) throw failure;
    }
    const base = options.backoffMs * 2 ** attempt;
    const delay = base / 2 + Math.random() * (base / 2);
    if (Date.now() + delay >= deadline) throw failure;
    await sleep(delay);
  }
}
