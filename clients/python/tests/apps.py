"""What every framework integration must do, checked over real HTTP against its app.

Each app serves ``GET /data`` needing ``data:read``, answering ``{"key_id": ...}`` from the
verified key, and ``GET /healthz`` needing nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx


def check_app(base: str, make_key: Callable[..., dict[str, Any]], path: str = "/data") -> None:
    readable = make_key(scopes=["data:read"])
    writable = make_key(scopes=["data:write"])
    limited = make_key(scopes=["data:read"], ratelimit={"limit": 1, "window_seconds": 3600})

    with httpx.Client(base_url=base, timeout=10) as http:
        ok = http.get(path, headers={"Authorization": f"Bearer {readable['key']}"})
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"key_id": readable["id"]}
        by_header = http.get(path, headers={"X-API-Key": readable["key"]})
        assert by_header.status_code == 200

        missing = http.get(path)
        assert missing.status_code == 401
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["code"] == "MALFORMED"
        assert missing.json()["status"] == 401

        unknown = http.get(path, headers={"Authorization": "Bearer kw_sk_" + "0" * 38})
        assert unknown.status_code == 401

        scope = http.get(path, headers={"Authorization": f"Bearer {writable['key']}"})
        assert scope.status_code == 403
        assert scope.json()["code"] == "INSUFFICIENT_SCOPE"
        assert scope.headers["x-keyward-code"] == "INSUFFICIENT_SCOPE"

        assert http.get(path, headers={"X-API-Key": limited["key"]}).status_code == 200
        throttled = http.get(path, headers={"X-API-Key": limited["key"]})
        assert throttled.status_code == 429
        assert throttled.json()["code"] == "RATE_LIMITED"
        assert 1 <= int(throttled.headers["retry-after"]) <= 3600

        assert http.get("/healthz").status_code == 200


def check_unavailable(base: str, path: str = "/data") -> None:
    """An app whose Keyward cannot be reached refuses with 503."""
    with httpx.Client(base_url=base, timeout=10) as http:
        refused = http.get(path, headers={"X-API-Key": "kw_sk_" + "0" * 38})
        assert refused.status_code == 503
        assert refused.json()["code"] == "UNAVAILABLE"
