"""Webhook signatures: a real delivery from ``keyward serve``, checked by WebhookVerifier."""

from __future__ import annotations

import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from keyward.webhooks import WebhookVerificationError, WebhookVerifier

from .conftest import Server


def receive_one_delivery(server: Server) -> tuple[bytes, dict[str, str]]:
    deliveries: queue.Queue[tuple[bytes, dict[str, str]]] = queue.Queue()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            deliveries.put((body, dict(self.headers.items())))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with server.admin() as admin:
            endpoint = admin.post(
                "/v1/webhooks",
                json={"url": f"http://127.0.0.1:{httpd.server_address[1]}/hook", "events": ["*"]},
            )
            endpoint.raise_for_status()
            admin.post(f"/v1/webhooks/{endpoint.json()['id']}/test").raise_for_status()
            delivery = deliveries.get(timeout=30)
            admin.delete(f"/v1/webhooks/{endpoint.json()['id']}")
        return delivery
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_real_delivery_verifies_and_tampering_does_not(server: Server) -> None:
    body, headers = receive_one_delivery(server)
    with server.admin() as admin:
        secret = admin.get("/v1/shared-secret").json()["shared_secret"]

    event = WebhookVerifier(secret).verify(body, headers)
    assert event["type"] == "webhook.test"

    # During a rotation: either secret of the two verifies.
    assert WebhookVerifier("kwss_" + "x" * 40, secret).verify(body, headers)["type"] == (
        "webhook.test"
    )
    with pytest.raises(WebhookVerificationError):
        WebhookVerifier("kwss_" + "x" * 40).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        WebhookVerifier(secret).verify(body.replace(b"webhook.test", b"webhook.tesT"), headers)
    with pytest.raises(WebhookVerificationError):
        WebhookVerifier(secret).verify(body, {**headers, "webhook-signature": "v1,garbage"})
    with pytest.raises(WebhookVerificationError):
        WebhookVerifier(secret).verify(body, {})
    assert secret not in repr(WebhookVerifier(secret))
