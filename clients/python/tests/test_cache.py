"""The optional cache: bounded staleness, and one call for concurrent verifications."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from keyward import AsyncKeyward, Keyward

from .conftest import Server


def _counting(counter: list[str]) -> dict[str, list]:
    def hook(request: httpx.Request) -> None:
        counter.append(request.url.path)

    return {"request": [hook]}


def test_revoked_key_is_refused_again_within_the_ttl(server: Server, make_key) -> None:
    ttl = 2.0
    created = make_key()
    kw = Keyward(server.url, root_key=server.root_key, cache_ttl=ttl)
    assert kw.verify(created["key"], ["data:read"]).valid
    kw.keys.revoke(created["id"])
    revoked_at = time.monotonic()
    # Still answered from the cache right after (that is what the cache is for) ...
    assert kw.verify(created["key"], ["data:read"]).valid
    # ... and refused once `ttl` has passed since it was cached, whatever happens:
    # no question asked after that is answered from the cache.
    while True:
        asked_at = time.monotonic()
        if not kw.verify(created["key"], ["data:read"]).valid:
            break
        assert asked_at - revoked_at <= ttl
        time.sleep(0.05)
    assert kw.verify(created["key"], ["data:read"]).code == "REVOKED"


def test_without_a_ttl_nothing_is_cached(server: Server, make_key) -> None:
    created = make_key()
    kw = Keyward(server.url, root_key=server.root_key)
    assert kw.verify(created["key"]).valid
    kw.keys.revoke(created["id"])
    assert kw.verify(created["key"]).code == "REVOKED"


def test_concurrent_threads_share_one_call(server: Server, make_key) -> None:
    created = make_key()
    calls: list[str] = []
    kw = Keyward(server.url, cache_ttl=5, http_client=httpx.Client(event_hooks=_counting(calls)))
    barrier = threading.Barrier(16)

    def verify() -> bool:
        barrier.wait()
        return kw.verify(created["key"], ["data:read"]).valid

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: verify(), range(16)))
    assert all(answers)
    assert calls == ["/v1/verify"]
    # Other scopes are another question.
    assert not kw.verify(created["key"], ["push:read"]).valid
    assert len(calls) == 2


def test_concurrent_tasks_share_one_call(server: Server, make_key) -> None:
    created = make_key()
    other = make_key()
    calls: list[str] = []

    async def scenario() -> None:
        hooks = {"request": [_async_hook(calls)]}
        async with AsyncKeyward(
            server.url, cache_ttl=5, http_client=httpx.AsyncClient(event_hooks=hooks)
        ) as kw:
            answers = await asyncio.gather(
                *(kw.verify(created["key"], ["data:read"]) for _ in range(50)),
                *(kw.verify(other["key"], ["data:read"]) for _ in range(50)),
            )
            assert all(a.valid for a in answers)
            assert len(calls) == 2
            assert (await kw.verify(created["key"], ["data:read"])).valid
            assert len(calls) == 2

    asyncio.run(scenario())


def _async_hook(calls: list[str]):  # type: ignore[no-untyped-def]
    async def hook(request: httpx.Request) -> None:
        calls.append(request.url.path)

    return hook


def test_refusals_and_limited_keys_are_not_cached(server: Server, make_key) -> None:
    limited = make_key(ratelimit={"limit": 1000, "window_seconds": 60})
    calls: list[str] = []
    kw = Keyward(server.url, cache_ttl=5, http_client=httpx.Client(event_hooks=_counting(calls)))
    for _ in range(3):
        assert kw.verify(limited["key"]).valid
    assert len(calls) == 3  # every use counts against the key's rate limit in Keyward
    for _ in range(2):
        assert kw.verify(limited["key"], ["push:write"]).code == "INSUFFICIENT_SCOPE"
    assert len(calls) == 5


def test_concurrent_uses_of_a_limited_key_each_count(server: Server, make_key) -> None:
    limited = make_key(ratelimit={"limit": 5, "window_seconds": 60})
    calls: list[str] = []

    async def scenario() -> None:
        hooks = {"request": [_async_hook(calls)]}
        async with AsyncKeyward(
            server.url, cache_ttl=5, http_client=httpx.AsyncClient(event_hooks=hooks)
        ) as kw:
            answers = await asyncio.gather(*(kw.verify(limited["key"]) for _ in range(8)))
            # Keyward counted every one: five pass the limit of five, the rest are refused.
            assert len(calls) == 8
            assert sorted(a.code for a in answers) == ["RATE_LIMITED"] * 3 + ["VALID"] * 5

    asyncio.run(scenario())
