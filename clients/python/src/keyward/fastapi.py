"""FastAPI: ``Depends(require_key("data:read"))`` on a route, after ``setup(app, client)``.

::

    app = FastAPI()
    setup(app, AsyncKeyward("http://keyward:8080"))

    @app.get("/data")
    async def data(key: Verification = Depends(require_key("data:read"))) -> dict[str, str]:
        return {"key_id": key.key_id or ""}

``setup`` keeps the client on ``app.state.keyward`` and answers refusals as
``application/problem+json`` (see :mod:`keyward.guard`). Without it, pass ``client=`` to
``require_key``; refusals then keep their status and headers but take FastAPI's usual
``{"detail": ...}`` body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response

from .guard import AsyncVerifier, Denial, acheck
from .models import Verification
from .starlette import ClientIp, peer_address, presented


class KeywardDenied(HTTPException):
    """Raised by :func:`require_key` to refuse a request."""

    def __init__(self, denial: Denial) -> None:
        super().__init__(denial.status, denial.title, {**denial.all_headers()})
        self.headers.pop("Content-Type", None)  # type: ignore[union-attr]
        self.denial = denial


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KeywardDenied)
    denial = exc.denial
    return Response(denial.body(), denial.status, denial.all_headers())


def setup(app: FastAPI, client: AsyncVerifier) -> None:
    """Use ``client`` for every :func:`require_key` of ``app``; answer refusals as problems."""
    app.state.keyward = client
    app.add_exception_handler(KeywardDenied, _problem)


def require_key(
    *scopes: str,
    client: AsyncVerifier | None = None,
    fail_open: bool = False,
    client_ip: ClientIp = peer_address,
) -> Callable[[Request], Awaitable[Verification]]:
    """A dependency that answers the request's verified key, or refuses the request.

    The key must hold every scope in ``scopes``. ``fail_open=True`` lets requests through
    when Keyward gives no usable answer (logging each one); the default answers 503.
    """

    async def keyward_key(request: Request) -> Verification:
        verifier = client or getattr(request.app.state, "keyward", None)
        if verifier is None:
            raise RuntimeError("keyward: call keyward.fastapi.setup(app, client) first")
        decision = await acheck(verifier, presented(request, client_ip), scopes, fail_open)
        if isinstance(decision, Denial):
            raise KeywardDenied(decision)
        request.state.keyward = decision
        return decision

    return keyward_key
