/**
 * The optional local cache of `VALID` verifications, with single-flight.
 *
 * Only `VALID` answers are kept, for at most `ttlMs` (never past the key's own `expiresAt`),
 * so a key revoked, disabled or narrowed in Keyward is refused again within `ttlMs`. Answers
 * carrying a rate limit or a quota are not kept (Keyward must count each use), nor are
 * refusals. Concurrent verifications of the same request share one call. Entries are named by
 * a SHA-256 of the key, scopes, origin and address: the cache holds no key in clear.
 */
import type { Verification } from "./models.js";

const encoder = new TextEncoder();

interface NodeCrypto {
  createHash(algorithm: "sha256"): { update(text: string): { digest(encoding: "hex"): string } };
}

// Node's own SHA-256 when there is one (synchronous, about 1 µs), Web Crypto elsewhere.
const nodeCrypto = (
  globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.("node:crypto") as NodeCrypto | undefined;

function hex(digest: ArrayBuffer): string {
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The entry name of a verification: never the key itself. */
export function cacheKey(
  key: string,
  scopes: readonly string[],
  origin: string | undefined,
  ip: string | undefined,
): string | Promise<string> {
  const text = [key, [...new Set(scopes)].sort().join(","), origin ?? "", ip ?? ""].join("\0");
  if (nodeCrypto !== undefined) return nodeCrypto.createHash("sha256").update(text).digest("hex");
  return globalThis.crypto.subtle.digest("SHA-256", encoder.encode(text)).then(hex);
}

export class VerificationCache {
  readonly enabled: boolean;
  private readonly entries = new Map<string, { until: number; answer: Verification }>();
  private readonly flights = new Map<string, Promise<Verification>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {
    this.enabled = ttlMs > 0;
  }

  /** The cached answer, or the answer of `call`, shared with concurrent callers. */
  async getOrCall(name: string, call: () => Promise<Verification>): Promise<Verification> {
    const entry = this.entries.get(name);
    if (entry !== undefined) {
      if (entry.until > performance.now()) return entry.answer;
      this.entries.delete(name);
    }
    const flying = this.flights.get(name);
    if (flying !== undefined) {
      // Keyward must count each use of a key with a rate limit or a quota.
      const shared = await flying;
      return limited(shared) ? call() : shared;
    }
    const flight = call()
      .then((answer) => {
        this.put(name, answer);
        return answer;
      })
      .finally(() => this.flights.delete(name));
    this.flights.set(name, flight);
    return flight;
  }

  private put(name: string, answer: Verification): void {
    if (!answer.valid || limited(answer)) return;
    let ttl = this.ttlMs;
    if (answer.expiresAt !== null) ttl = Math.min(ttl, answer.expiresAt.getTime() - Date.now());
    if (ttl <= 0) return;
    this.entries.delete(name);
    this.entries.set(name, { until: performance.now() + ttl, answer });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }
}

/** Whether Keyward must count each use: a rate limit or a quota. */
function limited(answer: Verification): boolean {
  return answer.ratelimit !== null || answer.quota !== null;
}
