/**
 * Hono: `app.use("/data/*", keyward(client, { scopes: ["data:read"] }))`.
 *
 * The verified key is `c.get("keyward")`; refusals are answered as problem+json (see
 * guard.ts). The client's address comes from `clientIp` (default: the Node adapter's socket
 * address, when there is one; other runtimes should pass their own, e.g. from `getConnInfo`).
 */
import type { Context, MiddlewareHandler } from "hono";
import {
  check,
  clientAddress,
  isDenial,
  keyFromHeaders,
  type GuardOptions,
  type Verifier,
} from "./guard.js";
import type { Verification } from "./models.js";

export type KeywardVariables = { keyward: Verification };

export interface HonoOptions extends GuardOptions {
  clientIp?: (c: Context) => string | undefined;
}

function nodeSocketAddress(c: Context): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}

/** Middleware that lets a request through only with a valid key holding every scope. */
export function keyward(
  client: Verifier,
  options: HonoOptions = {},
): MiddlewareHandler<{ Variables: KeywardVariables }> {
  const clientIp = options.clientIp ?? nodeSocketAddress;
  return async (c, next) => {
    const decision = await check(
      client,
      {
        key: keyFromHeaders(c.req.header("authorization"), c.req.header("x-api-key")),
        origin: c.req.header("origin"),
        ip: clientAddress(clientIp(c)),
        method: c.req.method,
        path: c.req.path,
      },
      options,
    );
    if (isDenial(decision)) {
      return c.body(decision.body, decision.status as 401, decision.headers);
    }
    c.set("keyward", decision);
    await next();
  };
}
