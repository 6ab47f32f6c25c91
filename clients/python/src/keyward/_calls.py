"""The API's requests, described once for both clients.

Each function returns the :class:`Call` for one operation of ``docs/api.md``; the clients
only send it and type its answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from ._transport import Call
from .models import KeyFields, KeyUpdate


def _id(value: str) -> str:
    return quote(value, safe="")


def _time(value: datetime | str | None) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def verify(key: str, scopes: Sequence[str], origin: str | None, ip: str | None) -> Call:
    body: dict[str, Any] = {"key": key}
    if scopes:
        body["scopes"] = list(scopes)
    if origin is not None:
        body["origin"] = origin
    if ip is not None:
        body["ip"] = ip
    return Call("POST", "/v1/verify", body=body, has_body=True, management=False)


def create_key(name: str, fields: KeyFields, idempotency_key: str | None) -> Call:
    # The Idempotency-Key makes a retried creation (after a lost answer) create one key.
    headers = {"Idempotency-Key": idempotency_key or f"keyward-python-{uuid.uuid4()}"}
    return Call("POST", "/v1/keys", body={"name": name, **fields}, has_body=True, headers=headers)


def list_keys(
    *,
    status: str | None,
    project_id: str | None,
    type: str | None,
    q: str | None,
    sort: str | None,
    limit: int | None,
    cursor: str | None,
) -> Call:
    params = {
        "status": status,
        "project_id": project_id,
        "type": type,
        "q": q,
        "sort": sort,
        "limit": None if limit is None else str(limit),
        "cursor": cursor,
    }
    return Call("GET", "/v1/keys", params=_present(params))


def get_key(key_id: str) -> Call:
    return Call("GET", f"/v1/keys/{_id(key_id)}")


def update_key(key_id: str, changes: KeyUpdate) -> Call:
    return Call("PATCH", f"/v1/keys/{_id(key_id)}", body=dict(changes), has_body=True)


def regenerate_key(key_id: str, grace_period_seconds: int | None) -> Call:
    body = {} if grace_period_seconds is None else {"grace_period_seconds": grace_period_seconds}
    # Not replay_safe: a second regeneration would replace the secret the lost answer held.
    return Call(
        "POST", f"/v1/keys/{_id(key_id)}/regenerate", body=body, has_body=True, replay_safe=False
    )


def revoke_key(key_id: str, reason: str | None) -> Call:
    body = {} if reason is None else {"reason": reason}
    return Call(
        "POST", f"/v1/keys/{_id(key_id)}/revoke", body=body, has_body=True, replay_safe=False
    )


def key_action(key_id: str, action: str) -> Call:
    """``archive``, ``disable`` or ``enable``: no body."""
    return Call("POST", f"/v1/keys/{_id(key_id)}/{action}", replay_safe=action != "archive")


def key_usage(
    key_id: str, granularity: str | None, from_: datetime | str | None, to: datetime | str | None
) -> Call:
    params = {"granularity": granularity, "from": _time(from_), "to": _time(to)}
    return Call("GET", f"/v1/keys/{_id(key_id)}/usage", params=_present(params))


def create_project(name: str, key_prefix: str | None, apis: Sequence[str] | None) -> Call:
    body: dict[str, Any] = {"name": name}
    if key_prefix is not None:
        body["key_prefix"] = key_prefix
    if apis is not None:
        body["apis"] = list(apis)
    return Call("POST", "/v1/projects", body=body, has_body=True, replay_safe=False)


def list_projects() -> Call:
    return Call("GET", "/v1/projects")


def get_project(project_id: str) -> Call:
    return Call("GET", f"/v1/projects/{_id(project_id)}")


def update_project(
    project_id: str, name: str | None, key_prefix: str | None, apis: Sequence[str] | None
) -> Call:
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if key_prefix is not None:
        body["key_prefix"] = key_prefix
    if apis is not None:
        body["apis"] = list(apis)
    return Call("PATCH", f"/v1/projects/{_id(project_id)}", body=body, has_body=True)


def search_audit(
    *,
    action: str | None,
    actor: str | None,
    team: str | None,
    target: str | None,
    from_: datetime | str | None,
    to: datetime | str | None,
    q: str | None,
    limit: int | None,
    cursor: str | None,
) -> Call:
    params = {
        "action": action,
        "actor": actor,
        "team": team,
        "target": target,
        "from": _time(from_),
        "to": _time(to),
        "q": q,
        "limit": None if limit is None else str(limit),
        "cursor": cursor,
    }
    return Call("GET", "/v1/audit", params=_present(params))


def _present(params: dict[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in params.items() if v is not None}
