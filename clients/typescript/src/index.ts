/**
 * Keyward's TypeScript client: verify API keys and manage them from a service.
 *
 * `Keyward` is the client; middleware lives in `@keyward/client/express` and
 * `@keyward/client/hono`, webhook signatures in `@keyward/client/webhooks`. Shared behaviour
 * (timeouts, retries, failing closed, the cache) is described in Keyward's `docs/clients.md`.
 */
export {
  Keyward,
  Keys,
  Projects,
  Audit,
  type KeywardOptions,
  type VerifyOptions,
} from "./client.js";
export * from "./errors.js";
export * from "./models.js";
export {
  check,
  clientAddress,
  denial,
  isDenial,
  keyFromHeaders,
  type Denial,
  type GuardOptions,
  type Logger,
  type Presented,
  type Verifier,
} from "./guard.js";
export { VERSION } from "./transport.js";
