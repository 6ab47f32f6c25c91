// Webhook signatures: a real delivery from `keyward serve`, checked by WebhookVerifier.
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { after, before, describe, test } from "node:test";
import { WebhookVerificationError, WebhookVerifier } from "@keyward/client/webhooks";
import { close, listen, missingBinary, startKeyward, type RunningKeyward } from "./helpers.js";

describe("webhooks", { skip: missingBinary() }, () => {
  let server: RunningKeyward;
  before(async () => {
    server = await startKeyward("--webhook-allow-private");
  });
  after(() => server?.stop());

  test("a real delivery verifies, and tampering does not", async () => {
    let delivered!: (value: [string, IncomingHttpHeaders]) => void;
    const delivery = new Promise<[string, IncomingHttpHeaders]>((done) => (delivered = done));
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        delivered([Buffer.concat(chunks).toString("utf8"), req.headers]);
        res.writeHead(204).end();
      });
    });
    const url = await listen(receiver);
    try {
      const endpoint = await server.admin("POST", "/v1/webhooks", {
        url: `${url}/hook`,
        events: ["*"],
      });
      await server.admin("POST", `/v1/webhooks/${endpoint.id}/test`);
      const [body, headers] = await delivery;
      const { shared_secret: secret } = await server.admin("GET", "/v1/shared-secret");

      assert.equal(new WebhookVerifier(secret).verify(body, headers).type, "webhook.test");
      assert.equal(
        new WebhookVerifier(secret).verify(new TextEncoder().encode(body), headers).type,
        "webhook.test",
      );
      const asFetchHeaders = new Headers(headers as Record<string, string>);
      assert.equal(new WebhookVerifier(secret).verify(body, asFetchHeaders).type, "webhook.test");
      const other = `kwss_${"x".repeat(40)}`;
      assert.equal(new WebhookVerifier(other, secret).verify(body, headers).type, "webhook.test");
      assert.throws(
        () => new WebhookVerifier(other).verify(body, headers),
        WebhookVerificationError,
      );
      assert.throws(
        () =>
          new WebhookVerifier(secret).verify(body.replace("webhook.test", "webhook.tesT"), headers),
        WebhookVerificationError,
      );
      assert.throws(
        () =>
          new WebhookVerifier(secret).verify(body, {
            ...headers,
            "webhook-signature": "v1,garbage",
          }),
        WebhookVerificationError,
      );
      assert.throws(() => new WebhookVerifier(secret).verify(body, {}), WebhookVerificationError);
    } finally {
      await close(receiver);
    }
  });
});
