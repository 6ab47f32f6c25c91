"""Starlette (and any ASGI app): a middleware that lets in only requests with a valid key.

::

    app.add_middleware(KeywardMiddleware, client=AsyncKeyward(url), scopes=["data:read"],
                       exclude=["/healthz"])

The verified key is ``request.state.keyward`` (a :class:`~keyward.Verification`).
Requests whose path starts with one of ``exclude`` pass without a key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from .guard import AsyncVerifier, Denial, Presented, acheck, client_address, key_from_headers

ClientIp = Callable[[HTTPConnection], "str | None"]


def peer_address(connection: HTTPConnection) -> str | None:
    """The TCP peer's address (behind a proxy, pass ``client_ip`` to read its header)."""
    return connection.client.host if connection.client else None


def presented(connection: HTTPConnection, client_ip: ClientIp) -> Presented:
    headers = connection.headers
    return Presented(
        key=key_from_headers(headers.get("authorization"), headers.get("x-api-key")),
        origin=headers.get("origin"),
        ip=client_address(client_ip(connection)),
        method=connection.scope.get("method", "GET"),
        path=connection.url.path,
    )


async def send_denial(denial: Denial, send: Send) -> None:
    """Answer a refusal on a raw ASGI connection."""
    body = denial.body()
    headers = Headers({**denial.all_headers(), "content-length": str(len(body))})
    await send({"type": "http.response.start", "status": denial.status, "headers": headers.raw})
    await send({"type": "http.response.body", "body": body})


class KeywardMiddleware:
    """Pure ASGI middleware: verify every HTTP request's key, answer refusals itself."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        client: AsyncVerifier,
        scopes: Sequence[str] = (),
        exclude: Sequence[str] = (),
        fail_open: bool = False,
        client_ip: ClientIp = peer_address,
    ) -> None:
        self.app = app
        self.client = client
        self.scopes = tuple(scopes)
        self.exclude = tuple(exclude)
        self.fail_open = fail_open
        self.client_ip = client_ip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exclude or ("\x00",)):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        decision = await acheck(
            self.client, presented(connection, self.client_ip), self.scopes, self.fail_open
        )
        if isinstance(decision, Denial):
            await send_denial(decision, send)
            return
        scope.setdefault("state", {})["keyward"] = decision
        await self.app(scope, receive, send)
