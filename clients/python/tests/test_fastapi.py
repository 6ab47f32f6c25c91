"""FastAPI: ``Depends(require_key(...))`` in an app served by uvicorn."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from keyward import AsyncKeyward, Verification
from keyward.fastapi import require_key, setup

from .apps import check_app, check_unavailable, echo
from .conftest import Server, dead_url, serve_asgi


def make_app(client: AsyncKeyward, fail_open: bool = False) -> FastAPI:
    app = FastAPI()
    setup(app, client)

    @app.get("/data")
    async def data(
        key: Verification = Depends(require_key("data:read", fail_open=fail_open)),
    ) -> dict[str, Any]:
        return echo(key)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def test_fastapi_dependency(server: Server, make_key) -> None:
    with serve_asgi(make_app(AsyncKeyward(server.url))) as base:
        check_app(base, server, make_key)


def test_fastapi_fails_closed_and_open_only_when_asked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with serve_asgi(make_app(AsyncKeyward(dead_url(), retries=0))) as base:
        check_unavailable(base)
    caplog.set_level(logging.WARNING, logger="keyward")
    with serve_asgi(make_app(AsyncKeyward(dead_url(), retries=0), fail_open=True)) as base:
        answer = httpx.get(f"{base}/data", headers={"X-API-Key": "kw_sk_" + "1" * 38})
        assert answer.status_code == 200
        assert answer.json() == echo(Verification.unverified())
        assert answer.json()["key_id"] is None
    assert any("failing open for GET /data" in r.getMessage() for r in caplog.records)
