"""An SMTP server for Keyward's email tests, on aiosmtpd (PyPI).

    python smtp_server.py --dir DIR [--port N] [--reject ADDRESS]...
        [--auth USER:PASSWORD]

It listens on 127.0.0.1 (at --port, or a port the system picks) and writes the
port to DIR/port (whole, by rename). Every message it accepts is parsed with
Python's own `email` package and written as DIR/messages/<n>.json, by rename,
once it is whole:

    {"mail_from": "...", "rcpt_tos": ["..."], "from": "...", "to": "...",
     "subject": "...", "text": "...", "html": "...",
     "attachments": [{"filename": "...", "content_type": "...", "data": "<base64>"}],
     "raw": "<the message as received>"}

Every RCPT TO, accepted or not, is appended to DIR/rcpt.log (one address per
line). --reject ADDRESS answers that recipient `550 5.1.1 no such user`, a
permanent rejection. With --auth, clients must log in (AUTH PLAIN or LOGIN,
allowed without TLS here) with that user and password; each login attempt
is appended to DIR/auth.log as `user:password ok|refused`.
"""

import argparse
import base64
import email
import email.policy
import json
import os
import signal
import socket
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def write_whole(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


class Handler:
    def __init__(self, directory, reject):
        self.directory = directory
        self.reject = {a.lower() for a in reject}
        self.count = 0
        self.lock = threading.Lock()
        os.makedirs(os.path.join(directory, "messages"), exist_ok=True)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with open(os.path.join(self.directory, "rcpt.log"), "a") as f:
            f.write(address + "\n")
        if address.lower() in self.reject:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.content.decode("utf-8", errors="replace")
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        attachments = [
            {
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "data": base64.b64encode(part.get_payload(decode=True)).decode(),
            }
            for part in message.iter_attachments()
        ]
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "text": text.get_content() if text else None,
            "html": html.get_content() if html else None,
            "attachments": attachments,
            "raw": raw,
        }
        with self.lock:
            self.count += 1
            n = self.count
        path = os.path.join(self.directory, "messages", f"{n:05}.json")
        write_whole(path, json.dumps(record))
        return "250 Message accepted"


class Authenticator:
    def __init__(self, directory, credentials):
        self.directory = directory
        self.credentials = credentials

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode()
        password = auth_data.password.decode()
        ok = f"{user}:{password}" == self.credentials
        with open(os.path.join(self.directory, "auth.log"), "a") as f:
            f.write(f"{user}:{password} {'ok' if ok else 'refused'}\n")
        return AuthResult(success=ok)


def free_port():
    # aiosmtpd's Controller checks that it answers by connecting to its own
    # port, so it needs a real one, not 0.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--reject", action="append", default=[])
    parser.add_argument("--auth")
    args = parser.parse_args()
    handler = Handler(args.dir, args.reject)
    options = {}
    if args.auth:
        options = {
            "authenticator": Authenticator(args.dir, args.auth),
            "auth_required": True,
            "auth_require_tls": False,
        }
    port = args.port or free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    write_whole(os.path.join(args.dir, "port"), str(port))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
