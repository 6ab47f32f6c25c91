"""Django: ``KeywardMiddleware`` for a whole site, ``@require_key(...)`` for a view.

Settings (only ``URL`` is required)::

    KEYWARD = {
        "URL": "http://keyward:8080",
        "TIMEOUT": 2.0, "RETRIES": 2, "CACHE_TTL": 0,   # the client's options
        "FAIL_OPEN": False,
        "SCOPES": [],                 # what the middleware requires of every request
        "EXCLUDE": ["/healthz"],      # path prefixes the middleware lets through
    }
    MIDDLEWARE = [..., "keyward.django.KeywardMiddleware"]

The verified key is ``request.keyward`` (a :class:`~keyward.Verification`); refusals are
answered as ``application/problem+json`` (see :mod:`keyward.guard`). Views are synchronous
here: one blocking :class:`~keyward.Keyward` client is made from the settings and shared.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .client import Keyward
from .guard import Denial, Presented, SyncVerifier, check, client_address, key_from_headers
from .models import Verification

F = TypeVar("F", bound=Callable[..., HttpResponse])

_lock = threading.Lock()
_client: Keyward | None = None


def _settings() -> dict[str, Any]:
    value = getattr(settings, "KEYWARD", None)
    if not isinstance(value, dict) or not isinstance(value.get("URL"), str):
        raise RuntimeError('keyward: settings.KEYWARD = {"URL": ...} is required')
    return value


def get_client() -> Keyward:
    """The client made from ``settings.KEYWARD`` (once per process)."""
    global _client
    with _lock:
        if _client is None:
            conf = _settings()
            _client = Keyward(
                conf["URL"],
                timeout=float(conf.get("TIMEOUT", 2.0)),
                retries=int(conf.get("RETRIES", 2)),
                cache_ttl=float(conf.get("CACHE_TTL", 0)),
            )
        return _client


def reset_client() -> None:
    """Forget the client, so the next request makes one from the current settings."""
    global _client
    with _lock:
        _client = None


def _presented(request: HttpRequest) -> Presented:
    return Presented(
        key=key_from_headers(
            request.headers.get("Authorization"), request.headers.get("X-API-Key")
        ),
        origin=request.headers.get("Origin"),
        ip=client_address(request.META.get("REMOTE_ADDR")),
        method=request.method or "GET",
        path=request.path,
    )


def _answer(denial: Denial) -> HttpResponse:
    response = HttpResponse(denial.body(), status=denial.status)
    for name, value in denial.all_headers().items():
        response[name] = value
    return response


def _guard(
    request: HttpRequest, scopes: Sequence[str], fail_open: bool, client: SyncVerifier | None
) -> HttpResponse | None:
    decision = check(client or get_client(), _presented(request), scopes, fail_open)
    if isinstance(decision, Denial):
        return _answer(decision)
    request.keyward = decision  # type: ignore[attr-defined]
    return None


def require_key(
    *scopes: str, fail_open: bool | None = None, client: SyncVerifier | None = None
) -> Callable[[F], F]:
    """Refuse the view's requests unless their key is valid and holds every scope."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            open_ = bool(_settings().get("FAIL_OPEN", False)) if fail_open is None else fail_open
            refusal = _guard(request, scopes, open_, client)
            if refusal is not None:
                return refusal
            return view(request, *args, **kwargs)

        return cast(F, guarded)

    return decorate


class KeywardMiddleware:
    """Require a valid key (with ``KEYWARD["SCOPES"]``) on every path not in ``EXCLUDE``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        conf = _settings()
        self.scopes = tuple(conf.get("SCOPES", ()))
        self.exclude = tuple(conf.get("EXCLUDE", ()))
        self.fail_open = bool(conf.get("FAIL_OPEN", False))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.exclude and request.path.startswith(self.exclude):
            return self.get_response(request)
        refusal = _guard(request, self.scopes, self.fail_open, None)
        if refusal is not None:
            return refusal
        return self.get_response(request)


__all__ = ["KeywardMiddleware", "Verification", "get_client", "require_key", "reset_client"]
