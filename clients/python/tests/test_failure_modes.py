"""Keyward stopped, slow, failing or talking nonsense: the clients fail closed, in time."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

import keyward
from keyward import AsyncKeyward, Keyward
from keyward.guard import Presented, check

from .conftest import Server, blackhole, dead_url, scripted_http, start_server

VALID = json.dumps({"valid": True, "code": "VALID", "key_id": "key_x", "scopes": []}).encode()
KEY = "kw_sk_" + "a" * 38


def test_stopped_keyward_is_unavailable_after_bounded_retries(make_key) -> None:
    server = start_server()
    try:
        with server.admin() as admin:
            created = admin.post("/v1/keys", json={"name": "k"}).json()
        kw = Keyward(server.url, retries=2, backoff=0.05)
        assert kw.verify(created["key"]).valid
    finally:
        server.stop()
    started = time.monotonic()
    with pytest.raises(keyward.UnavailableError) as failed:
        kw.verify(created["key"])
    assert not isinstance(failed.value, keyward.KeywardTimeout)
    assert time.monotonic() - started < 2.0  # two short backoffs, not the whole budget


def test_slow_keyward_times_out_within_the_budget() -> None:
    with blackhole() as url:
        kw = Keyward(url, timeout=0.5, retries=3)
        started = time.monotonic()
        with pytest.raises(keyward.KeywardTimeout):
            kw.verify(KEY)
        elapsed = time.monotonic() - started
        assert 0.4 < elapsed < 1.5, elapsed  # the budget is for the call: four tries take 2 s

        async def slow() -> None:
            async with AsyncKeyward(url, timeout=0.5) as akw:
                await akw.verify(KEY)

        started = time.monotonic()
        with pytest.raises(keyward.KeywardTimeout):
            asyncio.run(slow())
        assert time.monotonic() - started < 1.5


def test_default_timeout_is_two_seconds() -> None:
    with blackhole() as url:
        started = time.monotonic()
        with pytest.raises(keyward.KeywardTimeout):
            Keyward(url).verify(KEY)
        assert 1.9 < time.monotonic() - started < 3.5


def test_5xx_is_retried_a_bounded_number_of_times() -> None:
    problem = json.dumps({"code": "storage_unavailable", "status": 503}).encode()
    with scripted_http([(503, problem)]) as (url, seen):
        with pytest.raises(keyward.ServerError) as failed:
            Keyward(url, retries=2, backoff=0.01).verify(KEY)
        assert failed.value.code == "storage_unavailable"
        assert isinstance(failed.value, keyward.UnavailableError)
        assert len(seen) == 3

    with scripted_http([(502, b"{}"), (500, b"oops"), (200, VALID)]) as (url, seen):
        assert Keyward(url, retries=2, backoff=0.01).verify(KEY).valid
        assert len(seen) == 3


def test_4xx_is_not_retried_and_unsafe_calls_are_not_replayed() -> None:
    problem = json.dumps({"code": "validation_failed", "errors": []}).encode()
    with scripted_http([(422, problem)]) as (url, seen):
        with pytest.raises(keyward.ValidationError):
            Keyward(url, retries=3, backoff=0.01).verify(KEY, ["x:y"])
        assert len(seen) == 1
    with scripted_http([(503, b"{}")]) as (url, seen):
        with pytest.raises(keyward.ServerError):
            Keyward(url, root_key="r", retries=3, backoff=0.01).keys.revoke("key_1")
        assert len(seen) == 1  # a revocation that may have applied is not sent again


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"valid": True}).encode(),
        json.dumps({"valid": True, "code": "REVOKED"}).encode(),
        json.dumps({"valid": "yes", "code": "VALID"}).encode(),
        json.dumps({"valid": True, "code": "VALID", "scopes": "data:read"}).encode(),
    ],
)
def test_unreadable_answers_fail_closed(body: bytes) -> None:
    with scripted_http([(200, body)]) as (url, _):
        with pytest.raises(keyward.ProtocolError):
            Keyward(url).verify(KEY)
        decision = check(Keyward(url), Presented(KEY, None, None, "GET", "/x"), (), False)
        assert getattr(decision, "status", None) == 503


def test_fail_open_is_explicit_and_logs_every_use_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    request = Presented(KEY, None, None, "GET", "/orders")
    kw = Keyward(dead_url(), retries=0)
    closed = check(kw, request, (), fail_open=False)
    assert getattr(closed, "status", None) == 503

    caplog.set_level(logging.WARNING, logger="keyward")
    caplog.clear()
    for _ in range(2):
        opened = check(kw, request, (), fail_open=True)
        assert isinstance(opened, keyward.Verification)
        assert opened.fail_open and opened.code == "UNVERIFIED"
    uses = [r for r in caplog.records if "failing open" in r.getMessage()]
    assert len(uses) == 2
    assert "GET /orders" in uses[0].getMessage()
    assert "UnavailableError" in uses[0].getMessage()
    assert all(KEY not in r.getMessage() for r in caplog.records)


def test_outage_of_the_real_server_reaches_middleware_as_503(server: Server, make_key) -> None:
    created = make_key()
    request = Presented(created["key"], None, "127.0.0.1", "POST", "/v1/things")
    assert check(Keyward(server.url), request, ["data:read"], False) == Keyward(server.url).verify(
        created["key"], ["data:read"], ip="127.0.0.1"
    )
    refused = check(Keyward(dead_url(), retries=1, backoff=0.01), request, (), False)
    assert getattr(refused, "status", None) == 503
    assert getattr(refused, "code", None) == "UNAVAILABLE"
