"""Flask: ``@require_key("data:read")`` on a view, after ``init_app(app, client)``.

::

    app = Flask(__name__)
    init_app(app, Keyward("http://keyward:8080"))

    @app.get("/data")
    @require_key("data:read")
    def data() -> dict[str, str]:
        return {"key_id": g.keyward.key_id}

The verified key is ``flask.g.keyward`` (a :class:`~keyward.Verification`); refusals are
answered as ``application/problem+json`` (see :mod:`keyward.guard`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Request, Response, current_app, g, request

from .guard import Denial, Presented, SyncVerifier, check, client_address, key_from_headers

F = TypeVar("F", bound=Callable[..., Any])


def init_app(app: Flask, client: SyncVerifier) -> None:
    """Use ``client`` for every :func:`require_key` of ``app``."""
    app.extensions["keyward"] = client


def peer_address(req: Request) -> str | None:
    """The TCP peer's address (behind a proxy, use werkzeug's ProxyFix or ``client_ip``)."""
    return req.remote_addr


def require_key(
    *scopes: str,
    client: SyncVerifier | None = None,
    fail_open: bool = False,
    client_ip: Callable[[Request], str | None] = peer_address,
) -> Callable[[F], F]:
    """Refuse the view's requests unless their key is valid and holds every scope."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            verifier = client or current_app.extensions.get("keyward")
            if verifier is None:
                raise RuntimeError("keyward: call keyward.flask.init_app(app, client) first")
            presented = Presented(
                key=key_from_headers(
                    request.headers.get("Authorization"), request.headers.get("X-API-Key")
                ),
                origin=request.headers.get("Origin"),
                ip=client_address(client_ip(request)),
                method=request.method,
                path=request.path,
            )
            decision = check(verifier, presented, scopes, fail_open)
            if isinstance(decision, Denial):
                return Response(decision.body(), decision.status, decision.all_headers())
            g.keyward = decision
            return view(*args, **kwargs)

        return cast(F, guarded)

    return decorate
