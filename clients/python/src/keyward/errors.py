"""The errors a Keyward client raises.

Two families, because callers handle them differently:

- :class:`ApiError` and its subclasses: Keyward answered, and refused the call with an
  ``application/problem+json`` body. ``.code`` is the stable machine-readable code
  (``not_found``, ``validation_failed``...), ``.errors`` the field errors of a 422.
- :class:`UnavailableError`: Keyward gave no usable answer (it could not be reached, took
  longer than the client's timeout, answered 5xx after every retry, or answered something
  that cannot be read). Middleware turns this into a 503 unless ``fail_open`` was asked for.
"""

from __future__ import annotations

from typing import Any


class KeywardError(Exception):
    """Base class of every error this package raises."""


class UnavailableError(KeywardError):
    """Keyward gave no usable answer: unreachable, too slow, 5xx, or unreadable."""


class KeywardTimeout(UnavailableError):
    """Keyward did not answer within the client's timeout (retries included)."""


class ProtocolError(UnavailableError):
    """Keyward's answer could not be read (not JSON, or not the documented shape)."""


class ApiError(KeywardError):
    """Keyward refused the call with a problem+json answer."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str = "",
        detail: str = "",
        errors: list[dict[str, str]] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail or title}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors: list[dict[str, str]] = errors or []
        self.request_id = request_id


class BadRequestError(ApiError):
    """400: the request could not be read."""


class AuthenticationError(ApiError):
    """401: no root key, or not a valid one."""


class PermissionDeniedError(ApiError):
    """403: the root key lacks the scope the call needs."""


class NotFoundError(ApiError):
    """404: no such object (or another organization's)."""


class ConflictError(ApiError):
    """409: a name taken, a revoked key changed, a concurrent change..."""


class ValidationError(ApiError):
    """422: invalid values; ``.errors`` names each field."""


class RateLimitedError(ApiError):
    """429: the root key's own rate limit or quota is spent; see ``.retry_after``."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServerError(ApiError, UnavailableError):
    """5xx after every retry: both an answer from Keyward and an outage."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
}


def error_class(status: int) -> type[ApiError]:
    """The exception class for an HTTP error status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, ApiError)
