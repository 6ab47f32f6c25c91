"""Sending a request to Keyward: deadline, bounded retries with backoff, error mapping.

Written once for both clients: :class:`Call` describes a request, :func:`decode` turns an
answer into JSON or an exception, and ``send_sync``/``send_async`` run the same retry loop
with their own sleep. The timeout is the budget of the whole call, retries included, so a
slow Keyward never holds a request longer than ``timeout`` seconds.

Retried: a connection that could not be opened (nothing was sent), and, for calls that are
safe to send twice (reads, verification, updates, creation with its ``Idempotency-Key``), a
connection lost mid-way or a 5xx answer. Never retried: 4xx answers.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from ._version import __version__
from .errors import (
    ApiError,
    KeywardError,
    KeywardTimeout,
    ProtocolError,
    RateLimitedError,
    UnavailableError,
    error_class,
)

USER_AGENT = f"keyward-python/{__version__}"


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class Options:
    """What both clients share: where Keyward is and how patient to be with it."""

    base_url: str
    root_key: Secret | None
    timeout: float
    retries: int
    backoff: float


@dataclass(frozen=True)
class Call:
    """One API request, before it is sent."""

    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: Any = None
    has_body: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    management: bool = True
    replay_safe: bool = True


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


def request_args(options: Options, call: Call, remaining: float) -> dict[str, Any]:
    """The keyword arguments of ``httpx.Client.request`` for one attempt of ``call``."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **call.headers}
    if call.management:
        if options.root_key is None:
            raise KeywardError("this call needs a root key: Keyward(url, root_key=...)")
        headers["Authorization"] = f"Bearer {options.root_key.reveal()}"
    content = None
    if call.has_body:
        headers["Content-Type"] = "application/json"
        content = json.dumps(call.body, default=_default).encode()
    return {
        "method": call.method,
        "url": options.base_url.rstrip("/") + call.path,
        "params": {k: v for k, v in (call.params or {}).items() if v is not None},
        "content": content,
        "headers": headers,
        "timeout": httpx.Timeout(remaining),
    }


def decode(response: httpx.Response) -> Any:
    """The JSON of a 2xx answer (None for 204); the matching exception otherwise."""
    status = response.status_code
    if 200 <= status < 300:
        if status == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ProtocolError(f"Keyward answered {status} with a body that is not JSON") from exc
    problem: dict[str, Any] = {}
    try:
        parsed = response.json()
        if isinstance(parsed, dict):
            problem = parsed
    except ValueError:
        pass
    code = problem.get("code")
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code if isinstance(code, str) else f"http_{status}",
        "title": str(problem.get("title") or response.reason_phrase),
        "detail": str(problem.get("detail") or ""),
        "errors": problem.get("errors") if isinstance(problem.get("errors"), list) else None,
        "request_id": response.headers.get("x-request-id"),
    }
    if status == 429:
        raise RateLimitedError(
            retry_after=_retry_after(response.headers.get("retry-after")), **kwargs
        )
    raise error_class(status)(**kwargs)


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class _Attempts:
    """The retry policy's state for one call: deadline, attempts made, last failure."""

    def __init__(self, options: Options, call: Call) -> None:
        self.options = options
        self.call = call
        self.deadline = time.monotonic() + options.timeout
        self.attempt = 0

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise KeywardTimeout(f"Keyward did not answer within {self.options.timeout} s")
        return left

    def on_transport_error(self, exc: httpx.TransportError) -> float:
        """The delay before the next attempt, or raise: the call has failed."""
        if isinstance(exc, httpx.TimeoutException):
            raise KeywardTimeout(f"Keyward did not answer within {self.options.timeout} s") from exc
        error = UnavailableError(f"cannot reach Keyward: {type(exc).__name__}")
        if not (isinstance(exc, httpx.ConnectError) or self.call.replay_safe):
            raise error from exc
        return self._next_delay(error, exc)

    def on_response(self, response: httpx.Response) -> float | None:
        """None when the answer is final, else the delay before retrying it."""
        if response.status_code < 500 or not self.call.replay_safe:
            return None
        if self.attempt >= self.options.retries:
            return None
        return self._delay_within_deadline()

    def _next_delay(self, error: KeywardError, cause: BaseException) -> float:
        if self.attempt >= self.options.retries:
            raise error from cause
        delay = self._delay_within_deadline()
        if delay is None:
            raise error from cause
        return delay

    def _delay_within_deadline(self) -> float | None:
        base = self.options.backoff * (2**self.attempt)
        delay = random.uniform(base / 2, base)  # noqa: S311 (jitter, not a secret)
        self.attempt += 1
        if time.monotonic() + delay >= self.deadline:
            return None
        return delay


def send_sync(http: httpx.Client, options: Options, call: Call) -> Any:
    """Send ``call`` with retries; its decoded JSON answer."""
    attempts = _Attempts(options, call)
    while True:
        args = request_args(options, call, attempts.remaining())
        try:
            response = http.request(**args)
        except httpx.TransportError as exc:
            time.sleep(attempts.on_transport_error(exc))
            continue
        delay = attempts.on_response(response)
        if delay is None:
            return decode(response)
        time.sleep(delay)


async def send_async(http: httpx.AsyncClient, options: Options, call: Call) -> Any:
    """Send ``call`` with retries; its decoded JSON answer."""
    attempts = _Attempts(options, call)
    while True:
        args = request_args(options, call, attempts.remaining())
        try:
            response = await http.request(**args)
        except httpx.TransportError as exc:
            await asyncio.sleep(attempts.on_transport_error(exc))
            continue
        delay = attempts.on_response(response)
        if delay is None:
            return decode(response)
        await asyncio.sleep(delay)


__all__ = ["ApiError", "Call", "Options", "Secret", "decode", "send_async", "send_sync"]
