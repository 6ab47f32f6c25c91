"""Starlette: ``KeywardMiddleware`` in an app served by uvicorn."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from keyward import AsyncKeyward
from keyward.starlette import KeywardMiddleware

from .apps import check_app, check_unavailable, echo
from .conftest import Server, dead_url, serve_asgi


async def data(request: Request) -> JSONResponse:
    return JSONResponse(echo(request.state.keyward))


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def make_app(client: AsyncKeyward) -> Starlette:
    return Starlette(
        routes=[Route("/data", data), Route("/healthz", healthz)],
        middleware=[
            Middleware(KeywardMiddleware, client=client, scopes=["data:read"], exclude=["/healthz"])
        ],
    )


def test_starlette_middleware(server: Server, make_key) -> None:
    with serve_asgi(make_app(AsyncKeyward(server.url))) as base:
        check_app(base, server, make_key)


def test_starlette_fails_closed() -> None:
    with serve_asgi(make_app(AsyncKeyward(dead_url(), retries=0))) as base:
        check_unavailable(base)
