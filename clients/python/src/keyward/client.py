"""The clients: :class:`Keyward` (threads, blocking) and :class:`AsyncKeyward` (asyncio).

Both verify keys (``POST /v1/verify``, no credential needed) and, given a root key, call the
management API: ``client.keys``, ``client.projects``, ``client.audit``. Their behaviour
(timeout budget, retries, cache) is described in ``docs/clients.md``.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, cast

import httpx
from typing_extensions import Unpack

from . import _calls
from ._cache import AsyncCache, SyncCache, cache_key
from ._transport import Call, Options, Secret, send_async, send_sync
from .models import AuditEvent, Key, KeyFields, KeyUpdate, Page, Project, Verification

DEFAULT_TIMEOUT = 2.0
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF = 0.1
DEFAULT_CACHE_MAX_ENTRIES = 10_000


def _options(
    base_url: str, root_key: str | None, timeout: float, retries: int, backoff: float
) -> Options:
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    if retries < 0:
        raise ValueError("retries must be 0 or more")
    secret = Secret(root_key) if root_key else None
    return Options(base_url, secret, timeout, retries, backoff)


def _page(body: Any) -> Page[Any]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        from .errors import ProtocolError

        raise ProtocolError("a list answer without `data`")
    cursor = body.get("next_cursor")
    return Page(data=body["data"], next_cursor=cursor if isinstance(cursor, str) else None)


class Keyward:
    """A blocking Keyward client, safe to share between threads.

    ``Keyward("http://keyward:8080", root_key=..., timeout=2.0, retries=2, cache_ttl=0)``.
    ``timeout`` is the budget of a whole call, retries included; ``cache_ttl`` > 0 keeps
    ``VALID`` verifications that long (see ``docs/clients.md``). Pass ``http_client`` to
    bring your own ``httpx.Client`` (proxies, TLS, event hooks).
    """

    def __init__(
        self,
        base_url: str,
        *,
        root_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        cache_ttl: float = 0,
        cache_max_entries: int = DEFAULT_CACHE_MAX_ENTRIES,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._options = _options(base_url, root_key, timeout, retries, backoff)
        self._http = http_client or httpx.Client()
        self._cache = SyncCache(cache_ttl, cache_max_entries)
        self.keys = Keys(self)
        self.projects = Projects(self)
        self.audit = Audit(self)

    def __repr__(self) -> str:
        return f"Keyward({self._options.base_url!r})"

    def _send(self, call: Call) -> Any:
        return send_sync(self._http, self._options, call)

    def verify(
        self,
        key: str,
        scopes: Sequence[str] = (),
        *,
        origin: str | None = None,
        ip: str | None = None,
    ) -> Verification:
        """Ask Keyward whether ``key`` may act with ``scopes`` (all of them).

        Answers every verification outcome (check ``.valid`` and ``.code``); raises
        :class:`~keyward.UnavailableError` when Keyward gives no usable answer.
        """
        name = cache_key(key, scopes, origin, ip)
        return self._cache.get_or_call(
            name,
            lambda: Verification.from_json(self._send(_calls.verify(key, scopes, origin, ip))),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Keys:
    """``client.keys``: the key routes of the management API."""

    def __init__(self, client: Keyward) -> None:
        self._c = client

    def create(
        self, name: str, *, idempotency_key: str | None = None, **fields: Unpack[KeyFields]
    ) -> Key:
        """Create a key; the answer's ``key`` is the full key, shown this once."""
        return cast(Key, self._c._send(_calls.create_key(name, fields, idempotency_key)))

    def list_page(
        self,
        *,
        status: str | None = None,
        project_id: str | None = None,
        type: str | None = None,
        q: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Key]:
        """One page of keys and the next page's cursor."""
        call = _calls.list_keys(
            status=status,
            project_id=project_id,
            type=type,
            q=q,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        return _page(self._c._send(call))

    def list(
        self,
        *,
        status: str | None = None,
        project_id: str | None = None,
        type: str | None = None,
        q: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Key]:
        """Every matching key, fetching page after page (``limit`` is the page size)."""
        cursor: str | None = None
        while True:
            page = self.list_page(
                status=status,
                project_id=project_id,
                type=type,
                q=q,
                sort=sort,
                limit=limit,
                cursor=cursor,
            )
            yield from page.data
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get(self, key_id: str) -> Key:
        return cast(Key, self._c._send(_calls.get_key(key_id)))

    def update(self, key_id: str, **changes: Unpack[KeyUpdate]) -> Key:
        """Change a key; ``None`` clears description, expires_at, ratelimit and quota."""
        return cast(Key, self._c._send(_calls.update_key(key_id, changes)))

    def regenerate(self, key_id: str, *, grace_period_seconds: int | None = None) -> Key:
        """A new secret for the same key (in the answer's ``key``)."""
        return cast(Key, self._c._send(_calls.regenerate_key(key_id, grace_period_seconds)))

    def revoke(self, key_id: str, *, reason: str | None = None) -> Key:
        return cast(Key, self._c._send(_calls.revoke_key(key_id, reason)))

    def archive(self, key_id: str) -> Key:
        return cast(Key, self._c._send(_calls.key_action(key_id, "archive")))

    def disable(self, key_id: str) -> Key:
        return cast(Key, self._c._send(_calls.key_action(key_id, "disable")))

    def enable(self, key_id: str) -> Key:
        return cast(Key, self._c._send(_calls.key_action(key_id, "enable")))

    def usage(
        self,
        key_id: str,
        *,
        granularity: str | None = None,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Verification counts per day or hour, by outcome code."""
        call = _calls.key_usage(key_id, granularity, from_, to)
        return cast(dict[str, Any], self._c._send(call))


class Projects:
    """``client.projects``."""

    def __init__(self, client: Keyward) -> None:
        self._c = client

    def create(
        self, name: str, *, key_prefix: str | None = None, apis: Sequence[str] | None = None
    ) -> Project:
        return cast(Project, self._c._send(_calls.create_project(name, key_prefix, apis)))

    def list(self) -> builtins.list[Project]:
        return cast(builtins.list[Project], _page(self._c._send(_calls.list_projects())).data)

    def get(self, project_id: str) -> Project:
        return cast(Project, self._c._send(_calls.get_project(project_id)))

    def update(
        self,
        project_id: str,
        *,
        name: str | None = None,
        key_prefix: str | None = None,
        apis: Sequence[str] | None = None,
    ) -> Project:
        call = _calls.update_project(project_id, name, key_prefix, apis)
        return cast(Project, self._c._send(call))


class Audit:
    """``client.audit``: searching the audit log, newest first."""

    def __init__(self, client: Keyward) -> None:
        self._c = client

    def search_page(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        team: str | None = None,
        target: str | None = None,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        q: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[AuditEvent]:
        call = _calls.search_audit(
            action=action,
            actor=actor,
            team=team,
            target=target,
            from_=from_,
            to=to,
            q=q,
            limit=limit,
            cursor=cursor,
        )
        return _page(self._c._send(call))

    def search(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        team: str | None = None,
        target: str | None = None,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        q: str | None = None,
        limit: int | None = None,
    ) -> Iterator[AuditEvent]:
        """Every matching event, newest first, page after page."""
        cursor: str | None = None
        while True:
            page = self.search_page(
                action=action,
                actor=actor,
                team=team,
                target=target,
                from_=from_,
                to=to,
                q=q,
                limit=limit,
                cursor=cursor,
            )
            yield from page.data
            if page.next_cursor is None:
                return
            cursor = page.next_cursor


class AsyncKeyward:
    """The asyncio twin of :class:`Keyward`: same arguments, awaitable methods.

    Use one instance per event loop (its cache's single-flight belongs to a loop).
    """

    def __init__(
        self,
        base_url: str,
        *,
        root_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        cache_ttl: float = 0,
        cache_max_entries: int = DEFAULT_CACHE_MAX_ENTRIES,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._options = _options(base_url, root_key, timeout, retries, backoff)
        self._http = http_client or httpx.AsyncClient()
        self._cache = AsyncCache(cache_ttl, cache_max_entries)
        self.keys = AsyncKeys(self)
        self.projects = AsyncProjects(self)
        self.audit = AsyncAudit(self)

    def __repr__(self) -> str:
        return f"AsyncKeyward({self._options.base_url!r})"

    async def _send(self, call: Call) -> Any:
        return await send_async(self._http, self._options, call)

    async def verify(
        self,
        key: str,
        scopes: Sequence[str] = (),
        *,
        origin: str | None = None,
        ip: str | None = None,
    ) -> Verification:
        """See :meth:`Keyward.verify`."""

        async def call() -> Verification:
            body = await self._send(_calls.verify(key, scopes, origin, ip))
            return Verification.from_json(body)

        return await self._cache.get_or_call(cache_key(key, scopes, origin, ip), call)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncKeys:
    """``client.keys`` of :class:`AsyncKeyward`."""

    def __init__(self, client: AsyncKeyward) -> None:
        self._c = client

    async def create(
        self, name: str, *, idempotency_key: str | None = None, **fields: Unpack[KeyFields]
    ) -> Key:
        return cast(Key, await self._c._send(_calls.create_key(name, fields, idempotency_key)))

    async def list_page(
        self,
        *,
        status: str | None = None,
        project_id: str | None = None,
        type: str | None = None,
        q: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Key]:
        call = _calls.list_keys(
            status=status,
            project_id=project_id,
            type=type,
            q=q,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        return _page(await self._c._send(call))

    async def list(
        self,
        *,
        status: str | None = None,
        project_id: str | None = None,
        type: str | None = None,
        q: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Key]:
        cursor: str | None = None
        while True:
            page = await self.list_page(
                status=status,
                project_id=project_id,
                type=type,
                q=q,
                sort=sort,
                limit=limit,
                cursor=cursor,
            )
            for key in page.data:
                yield key
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def get(self, key_id: str) -> Key:
        return cast(Key, await self._c._send(_calls.get_key(key_id)))

    async def update(self, key_id: str, **changes: Unpack[KeyUpdate]) -> Key:
        return cast(Key, await self._c._send(_calls.update_key(key_id, changes)))

    async def regenerate(self, key_id: str, *, grace_period_seconds: int | None = None) -> Key:
        call = _calls.regenerate_key(key_id, grace_period_seconds)
        return cast(Key, await self._c._send(call))

    async def revoke(self, key_id: str, *, reason: str | None = None) -> Key:
        return cast(Key, await self._c._send(_calls.revoke_key(key_id, reason)))

    async def archive(self, key_id: str) -> Key:
        return cast(Key, await self._c._send(_calls.key_action(key_id, "archive")))

    async def disable(self, key_id: str) -> Key:
        return cast(Key, await self._c._send(_calls.key_action(key_id, "disable")))

    async def enable(self, key_id: str) -> Key:
        return cast(Key, await self._c._send(_calls.key_action(key_id, "enable")))

    async def usage(
        self,
        key_id: str,
        *,
        granularity: str | None = None,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
    ) -> dict[str, Any]:
        call = _calls.key_usage(key_id, granularity, from_, to)
        return cast(dict[str, Any], await self._c._send(call))


class AsyncProjects:
    """``client.projects`` of :class:`AsyncKeyward`."""

    def __init__(self, client: AsyncKeyward) -> None:
        self._c = client

    async def create(
        self, name: str, *, key_prefix: str | None = None, apis: Sequence[str] | None = None
    ) -> Project:
        call = _calls.create_project(name, key_prefix, apis)
        return cast(Project, await self._c._send(call))

    async def list(self) -> builtins.list[Project]:
        return cast(builtins.list[Project], _page(await self._c._send(_calls.list_projects())).data)

    async def get(self, project_id: str) -> Project:
        return cast(Project, await self._c._send(_calls.get_project(project_id)))

    async def update(
        self,
        project_id: str,
        *,
        name: str | None = None,
        key_prefix: str | None = None,
        apis: Sequence[str] | None = None,
    ) -> Project:
        call = _calls.update_project(project_id, name, key_prefix, apis)
        return cast(Project, await self._c._send(call))


class AsyncAudit:
    """``client.audit`` of :class:`AsyncKeyward`."""

    def __init__(self, client: AsyncKeyward) -> None:
        self._c = client

    async def search_page(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        team: str | None = None,
        target: str | None = None,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        q: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[AuditEvent]:
        call = _calls.search_audit(
            action=action,
            actor=actor,
            team=team,
            target=target,
            from_=from_,
            to=to,
            q=q,
            limit=limit,
            cursor=cursor,
        )
        return _page(await self._c._send(call))

    async def search(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        team: str | None = None,
        target: str | None = None,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        q: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[AuditEvent]:
        cursor: str | None = None
        while True:
            page = await self.search_page(
                action=action,
                actor=actor,
                team=team,
                target=target,
                from_=from_,
                to=to,
                q=q,
                limit=limit,
                cursor=cursor,
            )
            for event in page.data:
                yield event
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
