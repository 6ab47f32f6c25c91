/**
 * The errors a Keyward client throws.
 *
 * - {@link ApiError}: Keyward answered and refused the call with `application/problem+json`;
 *   `.code` is the stable machine-readable code (`not_found`, `validation_failed`...).
 * - {@link UnavailableError} (and {@link TimeoutError}, {@link ProtocolError}): Keyward gave no
 *   usable answer. A {@link ServerError} (5xx after every retry) is both: test with
 *   {@link isUnavailable}. Middleware turns unavailability into a 503 unless `failOpen`.
 */

/** Base class of every error this package throws. */
export class KeywardError extends Error {
  override name = "KeywardError";
}

/** Keyward gave no usable answer: unreachable, too slow, 5xx, or unreadable. */
export class UnavailableError extends KeywardError {
  override name = "UnavailableError";
  readonly unavailable = true;
}

/** Keyward did not answer within the client's timeout (retries included). */
export class TimeoutError extends UnavailableError {
  override name = "TimeoutError";
}

/** Keyward's answer could not be read (not JSON, or not the documented shape). */
export class ProtocolError extends UnavailableError {
  override name = "ProtocolError";
}

/** One field error of a 422. */
export interface FieldError {
  field: string;
  message: string;
}

/** What a problem+json answer said. */
export interface Problem {
  status: number;
  code: string;
  title: string;
  detail: string;
  errors: FieldError[];
  requestId: string | null;
}

/** Keyward refused the call with a problem+json answer. */
export class ApiError extends KeywardError {
  override name = "ApiError";
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly errors: FieldError[];
  readonly requestId: string | null;

  constructor(problem: Problem) {
    super(`${problem.status} ${problem.code}: ${problem.detail || problem.title}`);
    this.status = problem.status;
    this.code = problem.code;
    this.title = problem.title;
    this.detail = problem.detail;
    this.errors = problem.errors;
    this.requestId = problem.requestId;
  }
}

/** 429: the root key's own rate limit or quota is spent. */
export class RateLimitedError extends ApiError {
  override name = "RateLimitedError";
  constructor(
    problem: Problem,
    /** Seconds to wait, from `Retry-After`, when Keyward sent it. */
    readonly retryAfter: number | null,
  ) {
    super(problem);
  }
}

/** 5xx after every retry: an answer from Keyward, and an outage. */
export class ServerError extends ApiError {
  override name = "ServerError";
  readonly unavailable = true;
}

/** True for errors that mean Keyward gave no usable answer (middleware: 503). */
export function isUnavailable(error: unknown): boolean {
  return error instanceof UnavailableError || error instanceof ServerError;
}
