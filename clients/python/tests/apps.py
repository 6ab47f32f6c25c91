"""What every framework integration must do, checked over real HTTP against its app.

Each app serves ``GET /data`` needing ``data:read``, answering :func:`echo` of the verified
key (so the test sees what reached the handler), and ``GET /healthz`` needing nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from keyward import Verification

from .conftest import Server


def echo(key: Verification) -> dict[str, Any]:
    """The verified key as a handler sees it: what each app's ``/data`` answers."""
    return {
        "key_id": key.key_id,
        "org_id": key.org_id,
        "project_id": key.project_id,
        "scopes": list(key.scopes),
        "meta": key.meta,
    }


def check_app(
    base: str, server: Server, make_key: Callable[..., dict[str, Any]], path: str = "/data"
) -> None:
    meta = {"plan": "pro", "seats": 3, "tags": ["beta"]}
    readable = make_key(scopes=["data:read", "push:write"], meta=meta)
    writable = make_key(scopes=["data:write"])
    limited = make_key(scopes=["data:read"], ratelimit={"limit": 1, "window_seconds": 3600})
    # Keys that only a request showing its Origin and client address (127.0.0.1) can use.
    origin = "https://app.acme.example"
    fenced_origin = make_key(trusted_origins=[origin])
    local = make_key(allowed_ips=["127.0.0.1/32"])
    elsewhere = make_key(allowed_ips=["10.0.0.0/8"])

    with httpx.Client(base_url=base, timeout=10) as http:

        def get(key: str | None = None, **headers: str) -> httpx.Response:
            if key is not None:
                headers["X-API-Key"] = key
            return http.get(path, headers=headers)

        def refused(answer: httpx.Response, status: int, code: str) -> None:
            assert answer.status_code == status, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.headers["x-keyward-code"] == code
            assert answer.json()["code"] == code
            assert answer.json()["status"] == status

        ok = http.get(path, headers={"Authorization": f"Bearer {readable['key']}"})
        assert ok.status_code == 200, ok.text
        assert ok.json() == {
            "key_id": readable["id"],
            "org_id": server.org_id,
            "project_id": server.extra["project_id"],
            "scopes": ["data:read", "push:write"],
            "meta": meta,
        }
        assert get(readable["key"]).status_code == 200

        missing = get()
        refused(missing, 401, "MALFORMED")
        assert missing.headers["www-authenticate"] == "Bearer"
        assert get(Authorization="Bearer kw_sk_" + "0" * 38).status_code == 401
        scope = http.get(path, headers={"Authorization": f"Bearer {writable['key']}"})
        refused(scope, 403, "INSUFFICIENT_SCOPE")
        assert "www-authenticate" not in scope.headers

        # The request's Origin reaches Keyward: the right one passes, another or none is refused.
        through = get(fenced_origin["key"], Origin=origin)
        assert through.status_code == 200, through.text
        assert through.json()["key_id"] == fenced_origin["id"]
        refused(get(fenced_origin["key"], Origin="https://evil.example"), 403, "ORIGIN_NOT_ALLOWED")
        refused(get(fenced_origin["key"]), 403, "ORIGIN_NOT_ALLOWED")

        # So does the client's address (the TCP peer, 127.0.0.1).
        near = get(local["key"])
        assert near.status_code == 200, near.text
        assert near.json()["key_id"] == local["id"]
        refused(get(elsewhere["key"]), 403, "IP_NOT_ALLOWED")

        assert get(limited["key"]).status_code == 200
        throttled = get(limited["key"])
        refused(throttled, 429, "RATE_LIMITED")
        assert 1 <= int(throttled.headers["retry-after"]) <= 3600

        assert http.get("/healthz").status_code == 200


def check_unavailable(base: str, path: str = "/data") -> None:
    """An app whose Keyward cannot be reached refuses with 503."""
    with httpx.Client(base_url=base, timeout=10) as http:
        refused = http.get(path, headers={"X-API-Key": "kw_sk_" + "0" * 38})
        assert refused.status_code == 503
        assert refused.json()["code"] == "UNAVAILABLE"
