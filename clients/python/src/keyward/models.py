"""Typed shapes of what Keyward answers and accepts.

:class:`Verification` is parsed strictly (it decides whether a request gets in, so an answer
that does not have the documented shape is refused, never guessed at). The management
objects are ``TypedDict``\\ s: plain dicts as Keyward sent them, typed for editors and mypy,
and forward compatible with fields added later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar

from .errors import ProtocolError

VerificationCode = Literal[
    "VALID",
    "MALFORMED",
    "NOT_FOUND",
    "DISABLED",
    "EXPIRED",
    "REVOKED",
    "INSUFFICIENT_SCOPE",
    "ORIGIN_NOT_ALLOWED",
    "IP_NOT_ALLOWED",
    "RATE_LIMITED",
    "USAGE_EXCEEDED",
]
CODES: frozenset[str] = frozenset(VerificationCode.__args__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RateLimitState:
    """A key's rate limit as it stands after a verification."""

    limit: int
    remaining: int
    reset_at: datetime


@dataclass(frozen=True)
class QuotaState:
    """A key's quota as it stands after a verification (``refills_at`` None: lifetime)."""

    limit: int | None
    remaining: int
    refills_at: datetime | None


@dataclass(frozen=True)
class Verification:
    """Keyward's answer to ``POST /v1/verify``.

    ``fail_open`` is True only for the stand-in answer a middleware lets through when
    Keyward could not be reached and ``fail_open=True`` was asked for; such an answer has
    ``code == "UNVERIFIED"`` and no key fields.
    """

    valid: bool
    code: str
    key_id: str | None = None
    name: str | None = None
    project_id: str | None = None
    org_id: str | None = None
    owner: str | None = None
    role: str | None = None
    scopes: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None
    deprecated: bool = False
    ratelimit: RateLimitState | None = None
    quota: QuotaState | None = None
    fail_open: bool = False

    @classmethod
    def unverified(cls) -> Verification:
        """The stand-in a ``fail_open`` middleware lets through during an outage."""
        return cls(valid=True, code="UNVERIFIED", fail_open=True)

    @classmethod
    def from_json(cls, body: Any) -> Verification:
        """Parse an answer of ``POST /v1/verify``; :class:`ProtocolError` when it is not one."""
        if not isinstance(body, dict):
            raise ProtocolError("verification answer is not a JSON object")
        valid, code = body.get("valid"), body.get("code")
        if not isinstance(valid, bool) or not isinstance(code, str):
            raise ProtocolError("verification answer lacks `valid` or `code`")
        if valid != (code == "VALID"):
            raise ProtocolError("verification answer's `valid` and `code` disagree")
        scopes = body.get("scopes") or []
        meta = body.get("meta") or {}
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ProtocolError("verification answer's `scopes` is not a list of strings")
        if not isinstance(meta, dict):
            raise ProtocolError("verification answer's `meta` is not an object")
        deprecated = body.get("deprecated", False)
        if not isinstance(deprecated, bool):
            raise ProtocolError("verification answer's `deprecated` is not a boolean")
        return cls(
            valid=valid,
            code=code,
            key_id=_opt_str(body, "key_id"),
            name=_opt_str(body, "name"),
            project_id=_opt_str(body, "project_id"),
            org_id=_opt_str(body, "org_id"),
            owner=_opt_str(body, "owner"),
            role=_opt_str(body, "role"),
            scopes=tuple(scopes),
            meta=meta,
            expires_at=_opt_time(body.get("expires_at")),
            deprecated=deprecated,
            ratelimit=_ratelimit(body.get("ratelimit")),
            quota=_quota(body.get("quota")),
        )


def _opt_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ProtocolError(f"verification answer's `{name}` is not a string")
    return value


def _opt_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError("a time in the verification answer is not a string")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ProtocolError("a time in the verification answer is not RFC 3339") from exc


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError("a count in the verification answer is not an integer")
    return value


def _ratelimit(value: Any) -> RateLimitState | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError("verification answer's `ratelimit` is not an object")
    reset_at = _opt_time(value.get("reset_at"))
    if reset_at is None:
        raise ProtocolError("verification answer's `ratelimit` lacks `reset_at`")
    return RateLimitState(_int(value.get("limit")), _int(value.get("remaining")), reset_at)


def _quota(value: Any) -> QuotaState | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError("verification answer's `quota` is not an object")
    limit = value.get("limit")
    return QuotaState(
        None if limit is None else _int(limit),
        _int(value.get("remaining")),
        _opt_time(value.get("refills_at")),
    )


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its items and the cursor of the next page (None on the last)."""

    data: list[T]
    next_cursor: str | None


class RateLimit(TypedDict):
    limit: int
    window_seconds: int


class Quota(TypedDict):
    limit: int
    period: Literal["day", "month", "none"]
    remaining: NotRequired[int]
    refills_at: NotRequired[str | None]


class Key(TypedDict):
    """The key object (``key`` only in create and regenerate answers, and publishable keys)."""

    id: str
    name: str
    description: str
    project_id: str
    type: Literal["secret", "publishable"]
    role: Literal["admin", "readonly", "custom"]
    scopes: list[str]
    access: Literal["full", "partial"]
    status: Literal["active", "disabled", "expired", "revoked", "archived"]
    enabled: bool
    hint: str
    created_at: str
    created_by: str
    updated_at: str
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None
    revoked_reason: NotRequired[str | None]
    archived_at: str | None
    previous_secret_expires_at: NotRequired[str | None]
    leaked_at: NotRequired[str | None]
    trusted_origins: list[str]
    allowed_ips: list[str]
    meta: dict[str, Any]
    ratelimit: RateLimit | None
    quota: Quota | None
    key: NotRequired[str]


class KeyFields(TypedDict, total=False):
    """Optional fields of key creation (``name`` is an argument of its own)."""

    description: str
    project_id: str
    type: Literal["secret", "publishable"]
    role: Literal["admin", "readonly", "custom"]
    scopes: list[str]
    expires_at: datetime | str
    trusted_origins: list[str]
    allowed_ips: list[str]
    meta: dict[str, Any]
    enabled: bool
    ratelimit: RateLimit
    quota: Quota


class KeyUpdate(TypedDict, total=False):
    """Fields of a key update; ``None`` clears description, expiry, rate limit and quota."""

    name: str
    description: str | None
    role: Literal["admin", "readonly", "custom"]
    scopes: list[str]
    expires_at: datetime | str | None
    trusted_origins: list[str]
    allowed_ips: list[str]
    meta: dict[str, Any]
    enabled: bool
    ratelimit: RateLimit | None
    quota: Quota | None


class Project(TypedDict):
    id: str
    name: str
    key_prefix: str
    apis: list[str]
    management: bool
    created_at: str
    updated_at: str


class Actor(TypedDict):
    type: Literal["member", "root_key", "system"]
    id: str
    name: str


class Target(TypedDict):
    type: str
    id: str
    name: str


class AuditEvent(TypedDict):
    id: str
    seq: int
    occurred_at: str
    org_id: str
    actor: Actor
    team: str | None
    action: str
    target: Target
    ip: str | None
    user_agent: str | None
    changes: dict[str, Any]
    prev_hash: str
    hash: str
