"""What every middleware does, written once: read the key, verify, decide, answer.

The framework modules (``keyward.fastapi``, ``keyward.starlette``, ``keyward.django``,
``keyward.flask``) only adapt their request and response types to :func:`check` /
:func:`acheck` and :class:`Denial`.

Answers mirror Keyward's forward-auth endpoint ``GET /v1/auth``, so a service behaves the
same behind a proxy or with a middleware: 401 (with ``WWW-Authenticate: Bearer``) for a
missing, malformed, unknown, disabled, expired or revoked key; 403 for scope, origin or
address; 429 with ``Retry-After`` for a rate limit or quota; 503 when Keyward gives no usable
answer, unless ``fail_open`` was asked for. Each is ``application/problem+json`` whose
``code`` is the verification code (``MALFORMED`` also for a missing key, ``UNAVAILABLE`` for
the 503), also sent as ``X-Keyward-Code``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from .errors import KeywardError, UnavailableError
from .models import Verification

logger = logging.getLogger("keyward")

_STATUS: dict[str, tuple[int, str]] = {
    "MALFORMED": (401, "The API key is missing or malformed"),
    "NOT_FOUND": (401, "The API key is not known"),
    "DISABLED": (401, "The API key is disabled"),
    "EXPIRED": (401, "The API key has expired"),
    "REVOKED": (401, "The API key has been revoked"),
    "INSUFFICIENT_SCOPE": (403, "The API key lacks a scope this request needs"),
    "ORIGIN_NOT_ALLOWED": (403, "The API key may not be used from this origin"),
    "IP_NOT_ALLOWED": (403, "The API key may not be used from this address"),
    "RATE_LIMITED": (429, "The API key's rate limit is spent"),
    "USAGE_EXCEEDED": (429, "The API key's quota is spent"),
    "UNAVAILABLE": (503, "API keys cannot be checked right now"),
}


@dataclass(frozen=True)
class Denial:
    """A refusal, as the status, headers and problem+json body to answer with."""

    status: int
    code: str
    title: str
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        problem = {
            "type": f"urn:keyward:problem:{self.code.lower()}",
            "title": self.title,
            "status": self.status,
            "detail": self.title,
            "code": self.code,
        }
        return json.dumps(problem).encode()

    def all_headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/problem+json",
            "X-Keyward-Code": self.code,
            **self.headers,
        }


def denial(code: str, verification: Verification | None = None) -> Denial:
    """The refusal for a verification code (unknown codes refuse with 401)."""
    status, title = _STATUS.get(code, (401, "The API key was refused"))
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 429:
        headers["Retry-After"] = str(_retry_after(code, verification))
    return Denial(status, code, title, headers)


def _retry_after(code: str, verification: Verification | None) -> int:
    when: datetime | None = None
    if verification is not None:
        if code == "RATE_LIMITED" and verification.ratelimit is not None:
            when = verification.ratelimit.reset_at
        elif code == "USAGE_EXCEEDED" and verification.quota is not None:
            when = verification.quota.refills_at
            if when is None:
                return 86_400
    if when is None:
        return 1 if code == "RATE_LIMITED" else 86_400
    return max(1, math.ceil((when - datetime.now(UTC)).total_seconds()))


def key_from_headers(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key of ``Authorization: Bearer <key>``, else of ``X-API-Key``; None when absent."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    return None


def decide(verification: Verification) -> Verification | Denial:
    """Let a ``VALID`` answer through; refuse anything else."""
    if verification.valid and verification.code == "VALID":
        return verification
    return denial(verification.code, verification)


def outage(error: KeywardError, fail_open: bool, method: str, path: str) -> Verification | Denial:
    """The decision when Keyward gave no usable answer: 503, or through with a log line."""
    if fail_open:
        # Names the failure and the request, never the key.
        logger.warning(
            "keyward: failing open for %s %s: %s: %s", method, path, type(error).__name__, error
        )
        return Verification.unverified()
    logger.error("keyward: refusing %s %s: %s: %s", method, path, type(error).__name__, error)
    return denial("UNAVAILABLE")


class SyncVerifier(Protocol):
    def verify(
        self,
        key: str,
        scopes: Sequence[str] = (),
        *,
        origin: str | None = ...,
        ip: str | None = ...,
    ) -> Verification: ...


class AsyncVerifier(Protocol):
    async def verify(
        self,
        key: str,
        scopes: Sequence[str] = (),
        *,
        origin: str | None = ...,
        ip: str | None = ...,
    ) -> Verification: ...


def client_address(value: str | None) -> str | None:
    """``value`` when it is an IP address (a port or brackets removed), else None."""
    if not value:
        return None
    text = value.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


@dataclass(frozen=True)
class Presented:
    """What a request shows Keyward: its key, origin, address, and what it is."""

    key: str | None
    origin: str | None
    ip: str | None
    method: str
    path: str


def check(
    client: SyncVerifier, request: Presented, scopes: Sequence[str], fail_open: bool
) -> Verification | Denial:
    """Verify a request's key with the blocking client and decide."""
    if request.key is None:
        return denial("MALFORMED")
    try:
        verification = client.verify(request.key, scopes, origin=request.origin, ip=request.ip)
    except UnavailableError as exc:
        return outage(exc, fail_open, request.method, request.path)
    except KeywardError as exc:  # a 4xx to /v1/verify: our request was wrong; refuse
        logger.error("keyward: verification request refused: %s", exc)
        return outage(exc, False, request.method, request.path)
    return decide(verification)


async def acheck(
    client: AsyncVerifier, request: Presented, scopes: Sequence[str], fail_open: bool
) -> Verification | Denial:
    """Verify a request's key with the asyncio client and decide."""
    if request.key is None:
        return denial("MALFORMED")
    try:
        verification = await client.verify(
            request.key, scopes, origin=request.origin, ip=request.ip
        )
    except UnavailableError as exc:
        return outage(exc, fail_open, request.method, request.path)
    except KeywardError as exc:
        logger.error("keyward: verification request refused: %s", exc)
        return outage(exc, False, request.method, request.path)
    return decide(verification)
