"""Flask: ``@require_key`` in an app served by werkzeug over real HTTP."""

from __future__ import annotations

from typing import Any

from flask import Flask, g

from keyward import Keyward
from keyward.flask import init_app, require_key

from .apps import check_app, check_unavailable, echo
from .conftest import Server, dead_url, serve_wsgi


def make_app(client: Keyward) -> Flask:
    app = Flask(__name__)
    init_app(app, client)

    @app.get("/data")
    @require_key("data:read")
    def data() -> dict[str, Any]:
        return echo(g.keyward)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def test_flask_decorator(server: Server, make_key) -> None:
    with serve_wsgi(make_app(Keyward(server.url))) as base:
        check_app(base, server, make_key)


def test_flask_fails_closed() -> None:
    with serve_wsgi(make_app(Keyward(dead_url(), retries=0))) as base:
        check_unavailable(base)
