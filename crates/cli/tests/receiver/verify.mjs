// Verifies one Keyward webhook with the unmodified `standardwebhooks` npm
// package, as a TypeScript or JavaScript consumer would:
//
//   npm ci && echo '{"secret": "kwss_…", "headers": {…}, "body": "…"}' | node verify.mjs
//
// `body` is the request body exactly as received (a string), `headers` holds
// at least webhook-id, webhook-timestamp and webhook-signature (any case).
// Exits 0 when the delivery verifies, 1 when it does not.
//
// Keyward signs with the secret's raw UTF-8 bytes, not with a base64 `whsec_`
// secret, hence `{ format: "raw" }`. (A raw string secret is read one UTF-16
// unit per byte, which equals UTF-8 for `kwss_` secrets: they are ASCII.)
// Pitfalls: the headers must be a plain object (a fetch `Headers` object reads
// as empty: convert it with Object.fromEntries), and the body a string or a
// Buffer, never a parsed-and-reserialized JSON value.
import { Webhook } from "standardwebhooks";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { secret, headers, body } = JSON.parse(input);
try {
  new Webhook(secret, { format: "raw" }).verify(body, headers);
} catch (error) {
  console.error(`not verified: ${error.message}`);
  process.exit(1);
}
