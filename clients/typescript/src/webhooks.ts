/**
 * Checking that a webhook came from Keyward, with the `standardwebhooks` library.
 *
 * Keyward signs with the organization's shared secret used as it is (`{ format: "raw" }`,
 * not base64). During a rotation's grace period, give both secrets: a delivery is good when
 * either verifies it. Pass the body exactly as received, before any parsing.
 */
import { Webhook } from "standardwebhooks";
import { KeywardError } from "./errors.js";

/** The delivery is not Keyward's: bad or missing signature, or a stale timestamp. */
export class WebhookVerificationError extends KeywardError {
  override name = "WebhookVerificationError";
}

export type WebhookHeaders =
  Headers | Record<string, string | string[] | undefined> | Iterable<[string, string]>;

function plain(headers: WebhookHeaders): Record<string, string> {
  const entries: Iterable<[string, unknown]> =
    Symbol.iterator in Object(headers)
      ? (headers as Iterable<[string, string]>)
      : Object.entries(headers as Record<string, unknown>);
  const out: Record<string, string> = {};
  for (const [name, value] of entries) {
    const first: unknown = Array.isArray(value) ? value[0] : value;
    if (typeof first === "string") out[name.toLowerCase()] = first;
  }
  return out;
}

/** Verifies deliveries against one or more shared secrets (`kwss_...`). */
export class WebhookVerifier {
  readonly #webhooks: Webhook[];

  constructor(...secrets: string[]) {
    if (secrets.length === 0 || secrets.some((s) => !s)) {
      throw new RangeError("at least one non-empty shared secret is needed");
    }
    this.#webhooks = secrets.map((secret) => new Webhook(secret, { format: "raw" }));
  }

  /** The event `{type, timestamp, data}`; throws {@link WebhookVerificationError}. */
  verify(body: string | Uint8Array, headers: WebhookHeaders): Record<string, unknown> {
    const text = typeof body === "string" ? body : new TextDecoder().decode(body);
    const flat = plain(headers);
    for (const webhook of this.#webhooks) {
      let event: unknown;
      try {
        event = webhook.verify(text, flat);
      } catch {
        continue;
      }
      if (typeof event === "object" && event !== null && !Array.isArray(event)) {
        return event as Record<string, unknown>;
      }
      throw new WebhookVerificationError("the delivery's body is not a JSON object");
    }
    throw new WebhookVerificationError("no shared secret verifies this delivery");
  }
}
