"""The optional local cache of ``VALID`` verifications, with single-flight.

Only ``VALID`` answers are kept, for at most ``ttl`` seconds (never past the key's own
``expires_at``), so a key revoked, disabled or narrowed in Keyward is refused again within
``ttl`` seconds. Answers that carry a rate limit or a quota are not kept: their counting
belongs to Keyward, and a cached answer would not count. Refusals are never kept, so a key
that starts working (enabled again) works on the next request.

Concurrent verifications of the same request share one call to Keyward (single-flight),
whether its answer ends up cached or not, except that a caller handed someone else's answer
with a rate limit or a quota calls Keyward itself, so that every use is counted. Entries are
found by a SHA-256 of the key and the request's scopes, origin and address, so the cache
holds no key in clear.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime

from .models import Verification


def cache_key(key: str, scopes: Sequence[str], origin: str | None, ip: str | None) -> bytes:
    """The entry name of a verification: never the key itself."""
    parts = [key, ",".join(sorted(set(scopes))), origin or "", ip or ""]
    return hashlib.sha256("\x00".join(parts).encode()).digest()


def _limited(answer: Verification) -> bool:
    """Whether Keyward must count each use: a rate limit or a quota."""
    return answer.ratelimit is not None or answer.quota is not None


class _Store:
    """Entries and their monotonic expiry; callers hold the lock."""

    def __init__(self, ttl: float, max_entries: int) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.entries: OrderedDict[bytes, tuple[float, Verification]] = OrderedDict()

    def get(self, name: bytes) -> Verification | None:
        entry = self.entries.get(name)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self.entries[name]
            return None
        return entry[1]

    def put(self, name: bytes, answer: Verification) -> None:
        if not answer.valid or _limited(answer):
            return
        ttl = self.ttl
        if answer.expires_at is not None:
            ttl = min(ttl, (answer.expires_at - datetime.now(UTC)).total_seconds())
        if ttl <= 0:
            return
        self.entries[name] = (time.monotonic() + ttl, answer)
        self.entries.move_to_end(name)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)


class SyncCache:
    """Cache and single-flight for the threaded client."""

    def __init__(self, ttl: float, max_entries: int) -> None:
        self._store = _Store(ttl, max_entries)
        self._enabled = ttl > 0
        self._lock = threading.Lock()
        self._flights: dict[bytes, Future[Verification]] = {}

    def get_or_call(self, name: bytes, call: Callable[[], Verification]) -> Verification:
        if not self._enabled:
            return call()
        with self._lock:
            cached = self._store.get(name)
            if cached is not None:
                return cached
            flight = self._flights.get(name)
            leader = flight is None
            if flight is None:
                flight = self._flights[name] = Future()
        if not leader:
            shared = flight.result()
            if _limited(shared):
                return call()
            return shared
        try:
            answer = call()
        except BaseException as exc:
            with self._lock:
                del self._flights[name]
            flight.set_exception(exc)
            raise
        with self._lock:
            self._store.put(name, answer)
            del self._flights[name]
        flight.set_result(answer)
        return answer


class AsyncCache:
    """Cache and single-flight for the asyncio client (one event loop)."""

    def __init__(self, ttl: float, max_entries: int) -> None:
        self._store = _Store(ttl, max_entries)
        self._enabled = ttl > 0
        self._flights: dict[bytes, asyncio.Task[Verification]] = {}

    async def get_or_call(
        self, name: bytes, call: Callable[[], Awaitable[Verification]]
    ) -> Verification:
        if not self._enabled:
            return await call()
        cached = self._store.get(name)
        if cached is not None:
            return cached
        flight = self._flights.get(name)
        leader = flight is None
        if flight is None:
            flight = asyncio.ensure_future(self._fly(name, call))
            self._flights[name] = flight
        # Shielded: one caller giving up (cancelled) does not cancel the others' answer.
        shared = await asyncio.shield(flight)
        if not leader and _limited(shared):
            return await call()
        return shared

    async def _fly(self, name: bytes, call: Callable[[], Awaitable[Verification]]) -> Verification:
        try:
            answer = await call()
            self._store.put(name, answer)
            return answer
        finally:
            del self._flights[name]
