/**
 * Express: `app.get("/data", requireKey(client, { scopes: ["data:read"] }), handler)`.
 *
 * The verified key is `req.keyward`; refusals are answered as problem+json (see guard.ts).
 * Behind a proxy, set Express's `trust proxy` so that `req.ip` is the client's address.
 */
import type { NextFunction, Request, RequestHandler, Response } from "express";
import {
  check,
  clientAddress,
  isDenial,
  keyFromHeaders,
  type GuardOptions,
  type Verifier,
} from "./guard.js";
import type { Verification } from "./models.js";

declare global {
  namespace Express {
    interface Request {
      /** The verified key, set by `requireKey`. */
      keyward?: Verification;
    }
  }
}

export interface ExpressOptions extends GuardOptions {
  /** The client's address (default `req.ip`). */
  clientIp?: (req: Request) => string | undefined;
}

/** Middleware that lets a request through only with a valid key holding every scope. */
export function requireKey(client: Verifier, options: ExpressOptions = {}): RequestHandler {
  const clientIp = options.clientIp ?? ((req: Request) => req.ip);
  return (req: Request, res: Response, next: NextFunction) => {
    const presented = {
      key: keyFromHeaders(req.get("authorization"), req.get("x-api-key")),
      origin: req.get("origin"),
      ip: clientAddress(clientIp(req)),
      method: req.method,
      path: req.path,
    };
    check(client, presented, options).then((decision) => {
      if (isDenial(decision)) {
        res.status(decision.status).set(decision.headers).end(decision.body);
        return;
      }
      req.keyward = decision;
      next();
    }, next);
  };
}
