"""Keyward's Python client: verify API keys and manage them from a Python service.

``Keyward`` (blocking) and ``AsyncKeyward`` (asyncio) are the clients; the framework
integrations live in ``keyward.fastapi``, ``keyward.starlette``, ``keyward.django`` and
``keyward.flask``; webhook signatures in ``keyward.webhooks``. Shared behaviour (timeouts,
retries, failing closed, the cache) is described in Keyward's ``docs/clients.md``.
"""

from ._version import __version__
from .client import AsyncKeyward, Keyward
from .errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    KeywardError,
    KeywardTimeout,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    UnavailableError,
    ValidationError,
)
from .models import AuditEvent, Key, Page, Project, QuotaState, RateLimitState, Verification

__all__ = [
    "ApiError",
    "AsyncKeyward",
    "AuditEvent",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "Key",
    "Keyward",
    "KeywardError",
    "KeywardTimeout",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "Project",
    "ProtocolError",
    "QuotaState",
    "RateLimitState",
    "RateLimitedError",
    "ServerError",
    "UnavailableError",
    "ValidationError",
    "Verification",
    "__version__",
]
