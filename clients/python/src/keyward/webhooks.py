"""Checking that a webhook came from Keyward, with the ``standardwebhooks`` library.

Keyward signs with the organization's shared secret used as it is (its UTF-8 bytes, not
base64), which ``standardwebhooks`` takes as ``bytes``. During a rotation's grace period,
give both secrets: a delivery is good when either verifies it.

::

    verifier = WebhookVerifier(os.environ["KEYWARD_SHARED_SECRET"])
    event = verifier.verify(request_body_bytes, request_headers)   # or raises
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks import WebhookVerificationError as _LibraryError

from .errors import KeywardError


class WebhookVerificationError(KeywardError):
    """The delivery is not Keyward's: bad or missing signature, or a stale timestamp."""


class WebhookVerifier:
    """Verifies deliveries against one or more shared secrets (``kwss_...``)."""

    def __init__(self, *secrets: str) -> None:
        if not secrets or not all(secrets):
            raise ValueError("at least one non-empty shared secret is needed")
        self._webhooks = [Webhook(secret.encode()) for secret in secrets]

    def __repr__(self) -> str:
        return f"WebhookVerifier(<{len(self._webhooks)} secret(s)>)"

    def verify(self, body: bytes | str, headers: Mapping[str, str]) -> dict[str, Any]:
        """The event ``{type, timestamp, data}``; raises :class:`WebhookVerificationError`.

        ``body`` must be the bytes as received, before any parsing.
        """
        plain = {str(k): str(v) for k, v in headers.items()}
        for webhook in self._webhooks:
            try:
                event = webhook.verify(body, plain)
            except (_LibraryError, ValueError, TypeError):
                continue
            if isinstance(event, dict):
                return event
            raise WebhookVerificationError("the delivery's body is not a JSON object")
        raise WebhookVerificationError("no shared secret verifies this delivery")
