"""A webhook receiver for Keyward's integration tests.

    python receiver.py --secret-file PATH --port-file PATH --log PATH \
        [--fail-first N] [--status CODE]

It listens on 127.0.0.1 at a port the system picks, writes that port to
--port-file (whole, by rename, so a reader never sees half of it), and checks
each POST with the unmodified `standardwebhooks` package (requirements.txt),
so the tests prove that a stock Standard Webhooks consumer accepts what
Keyward sends, not merely that Keyward agrees with itself.

Secrets: --secret-file holds one organization secret (`kwss_…`) per line and
is read afresh for every request, so a test can rotate secrets while the
receiver runs. Keyward signs with the secret's raw UTF-8 bytes, not with a
base64 `whsec_` secret, so each line is handed to the library as bytes:
`Webhook(line.encode())`. (Given a str, the library would base64-decode it,
silently turning `kwss_…` into another key.)

Log: one JSON line per POST, appended and flushed before the answer is sent:

    {"webhook_id": "...", "timestamp": 1700000000, "verified_with": [0, 1],
     "type": "key.created", "body": {...}, "path": "/hook",
     "status": 204, "failed": false}

`verified_with` lists the indices (from 0) of the secret file's lines whose
secret verified the delivery (headers, signature and the library's
5-minute timestamp tolerance); blank lines never verify. `body` is the parsed
JSON body (its text when it is not JSON). `failed` is true whenever the
answer was not 2xx, so the sender is expected to try again or give up.

While a file named `<log>.hold` exists, the answer waits (the request is
logged first): a test can stop Keyward in the middle of an attempt.

Answers, the first rule that applies:
  1. 503 while a file named `<log>.fail` exists (a test toggles it at run time);
  2. 500 to the first N requests with --fail-first N;
  3. CODE to every request with --status CODE;
  4. 204 when at least one secret verified the delivery, 400 otherwise.
"""

import argparse
import json
import os
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks import Webhook, WebhookVerificationError


def verified_with(secret_file, body, headers):
    """Indices of the secret file's lines whose secret verifies the delivery."""
    with open(secret_file, encoding="utf-8") as f:
        secrets = [line.strip() for line in f]
    indices = []
    for index, secret in enumerate(secrets):
        if not secret:
            continue
        try:
            Webhook(secret.encode()).verify(body, headers, json_parse=False)
        except (WebhookVerificationError, ValueError):
            # ValueError: the library raises it, not WebhookVerificationError,
            # on a malformed signature list or a body that is not UTF-8.
            continue
        indices.append(index)
    return indices


def parse_body(body):
    text = body.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


class Receiver(BaseHTTPRequestHandler):
    # HTTP/1.0 (the default): one request per connection, so this
    # single-threaded server is never held up by an idle keep-alive connection.

    def do_POST(self):
        options = self.server.options
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = dict(self.headers.items())
        self.server.requests += 1

        verified = verified_with(options.secret_file, body, headers)
        if os.path.exists(options.log + ".fail"):
            status = 503
        elif self.server.requests <= options.fail_first:
            status = 500
        elif options.status is not None:
            status = options.status
        else:
            status = 204 if verified else 400

        parsed = parse_body(body)
        timestamp = self.headers.get("webhook-timestamp")
        entry = {
            "webhook_id": self.headers.get("webhook-id"),
            "timestamp": int(timestamp) if timestamp and timestamp.isdigit() else timestamp,
            "verified_with": verified,
            "type": parsed.get("type") if isinstance(parsed, dict) else None,
            "body": parsed,
            "path": self.path,
            "status": status,
            "failed": not 200 <= status < 300,
        }
        with open(options.log, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
            log.flush()

        while os.path.exists(options.log + ".hold"):
            time.sleep(0.05)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass  # The JSON log is the record; keep the tests' output clean.


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secret-file", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--fail-first", type=int, default=0, metavar="N")
    parser.add_argument("--status", type=int, metavar="CODE")
    options = parser.parse_args()

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    server.options = options
    server.requests = 0
    partial = options.port_file + ".partial"
    with open(partial, "w") as f:
        f.write(f"{server.server_address[1]}\n")
    os.replace(partial, options.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
