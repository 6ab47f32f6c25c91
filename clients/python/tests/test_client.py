"""Every method of both clients against a real ``keyward serve``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

import keyward
from keyward import AsyncKeyward, Keyward

from .conftest import Server


@pytest.fixture
def kw(server: Server) -> Keyward:
    return Keyward(server.url, root_key=server.root_key)


def test_verify_answers_every_outcome(kw: Keyward, make_key) -> None:
    created = make_key(scopes=["data:read"], meta={"plan": "pro"})

    ok = kw.verify(created["key"], ["data:read"])
    assert ok.valid and ok.code == "VALID"
    assert ok.key_id == created["id"]
    assert ok.scopes == ("data:read",)
    assert ok.meta == {"plan": "pro"}
    assert ok.project_id == created["project_id"]

    assert kw.verify(created["key"], ["data:write"]).code == "INSUFFICIENT_SCOPE"
    assert kw.verify("not a key").code == "MALFORMED"
    unknown = created["key"][:-10] + "A" * 4 + created["key"][-6:]
    assert kw.verify(unknown).code in ("NOT_FOUND", "MALFORMED")


def test_verify_passes_origin_and_ip(kw: Keyward, make_key) -> None:
    created = make_key(trusted_origins=["https://app.acme.example"], allowed_ips=["10.0.0.0/8"])
    key = created["key"]
    assert kw.verify(key, origin="https://app.acme.example", ip="10.1.2.3").valid
    assert kw.verify(key, origin="https://evil.example", ip="10.1.2.3").code == (
        "ORIGIN_NOT_ALLOWED"
    )
    assert kw.verify(key, origin="https://app.acme.example", ip="192.0.2.1").code == (
        "IP_NOT_ALLOWED"
    )


def test_key_lifecycle(kw: Keyward, server: Server) -> None:
    project_id = server.extra["project_id"]
    created = kw.keys.create(
        "lifecycle",
        project_id=project_id,
        scopes=["data:read"],
        description="first",
        expires_at=datetime.now(UTC) + timedelta(days=3),
    )
    assert created["key"].startswith("wid_sk_")
    assert created["status"] == "active"
    assert "key" not in kw.keys.get(created["id"])

    updated = kw.keys.update(created["id"], name="renamed", description=None, scopes=["push:*"])
    assert (updated["name"], updated["description"], updated["scopes"]) == (
        "renamed",
        "",
        ["push:*"],
    )
    assert kw.verify(created["key"], ["push:send"]).valid

    assert kw.keys.disable(created["id"])["enabled"] is False
    assert kw.verify(created["key"]).code == "DISABLED"
    assert kw.keys.enable(created["id"])["enabled"] is True

    regenerated = kw.keys.regenerate(created["id"], grace_period_seconds=60)
    assert regenerated["key"] != created["key"]
    assert kw.verify(regenerated["key"]).valid
    old = kw.verify(created["key"])
    assert old.valid and old.deprecated

    revoked = kw.keys.revoke(created["id"], reason="test")
    assert revoked["status"] == "revoked"
    assert kw.verify(regenerated["key"]).code == "REVOKED"
    archived = kw.keys.archive(created["id"])
    assert archived["status"] == "archived"
    assert created["id"] in [k["id"] for k in kw.keys.list(status="archived")]

    usage = kw.keys.usage(created["id"], granularity="hour")
    assert usage["key_id"] == created["id"]


def test_list_filters_and_walks_every_page(kw: Keyward, server: Server) -> None:
    project_id = server.extra["project_id"]
    ids = {
        kw.keys.create(f"paging {i}", project_id=project_id, description="zebra-paging")["id"]
        for i in range(5)
    }
    first = kw.keys.list_page(q="zebra-paging", limit=2)
    assert len(first.data) == 2 and first.next_cursor is not None
    walked = [k["id"] for k in kw.keys.list(q="zebra-paging", limit=2, sort="name")]
    assert set(walked) == ids and len(walked) == 5
    assert [k["name"] for k in kw.keys.list(q="zebra-paging", sort="name")] == [
        f"paging {i}" for i in range(5)
    ]
    assert all(k["project_id"] == project_id for k in kw.keys.list(project_id=project_id))


def test_projects(kw: Keyward) -> None:
    created = kw.projects.create("Gadgets", key_prefix="gad", apis=["data"])
    assert created["key_prefix"] == "gad"
    assert created["id"] in [p["id"] for p in kw.projects.list()]
    assert kw.projects.get(created["id"])["name"] == "Gadgets"
    changed = kw.projects.update(created["id"], apis=["data", "push"])
    assert changed["apis"] == ["data", "push"]


def test_audit_search_pages(kw: Keyward, server: Server) -> None:
    created = kw.keys.create("audited", project_id=server.extra["project_id"])
    kw.keys.update(created["id"], description="changed")
    events = list(kw.audit.search(target=created["id"], limit=1))
    assert [e["action"] for e in events] == ["key.updated", "key.created"]
    creation = next(iter(kw.audit.search(action="key.created", target=created["id"])))
    assert creation["actor"]["type"] == "root_key"

    first = kw.audit.search_page(target=created["id"], limit=1)
    assert [e["action"] for e in first.data] == ["key.updated"]
    assert first.next_cursor is not None
    last = kw.audit.search_page(target=created["id"], limit=1, cursor=first.next_cursor)
    assert [e["id"] for e in last.data] == [creation["id"]]
    assert last.next_cursor is None


def test_problems_become_typed_errors(kw: Keyward, server: Server) -> None:
    with pytest.raises(keyward.NotFoundError) as missing:
        kw.keys.get("key_00000000000000000000")
    assert missing.value.code == "not_found" and missing.value.status == 404

    with pytest.raises(keyward.ValidationError) as invalid:
        kw.keys.create("bad", project_id=server.extra["project_id"], scopes=["nope:read"])
    assert invalid.value.code == "validation_failed"
    assert invalid.value.errors and invalid.value.errors[0]["field"].startswith("scopes")

    with pytest.raises(keyward.ConflictError) as taken:
        kw.projects.create("Widgets")
    assert taken.value.code == "conflict"

    with pytest.raises(keyward.AuthenticationError) as unauthorized:
        Keyward(server.url, root_key="kwroot_sk_nope").keys.get("key_00000000000000000000")
    assert unauthorized.value.code == "unauthorized"

    with pytest.raises(keyward.KeywardError, match="root key"):
        Keyward(server.url).keys.list_page()


def test_create_retried_with_its_idempotency_key_creates_one_key(
    kw: Keyward, server: Server
) -> None:
    first = kw.keys.create("idem", project_id=server.extra["project_id"], idempotency_key="i-1")
    again = kw.keys.create("idem", project_id=server.extra["project_id"], idempotency_key="i-1")
    assert first["id"] == again["id"]


def test_the_root_key_never_shows(server: Server) -> None:
    client = Keyward(server.url, root_key=server.root_key)
    assert server.root_key not in repr(client)
    assert server.root_key not in repr(client.__dict__)


def test_async_client_covers_the_same_calls(server: Server, make_key) -> None:
    async def scenario() -> None:
        async with AsyncKeyward(server.url, root_key=server.root_key) as kw:
            created = await kw.keys.create(
                "async",
                project_id=server.extra["project_id"],
                scopes=["data:read"],
                description="async-walk",
            )
            assert (await kw.verify(created["key"], ["data:read"])).valid
            assert (await kw.keys.get(created["id"]))["name"] == "async"
            await kw.keys.update(created["id"], name="async renamed")
            for i in range(3):
                await kw.keys.create(
                    f"async {i}", project_id=server.extra["project_id"], description="async-walk"
                )
            walked = [k["id"] async for k in kw.keys.list(q="async-walk", limit=2)]
            assert len(walked) == 4
            regenerated = await kw.keys.regenerate(created["id"])
            assert (await kw.verify(created["key"])).code == "NOT_FOUND"
            assert (await kw.verify(regenerated["key"])).valid
            await kw.keys.disable(created["id"])
            await kw.keys.enable(created["id"])
            assert (await kw.keys.revoke(created["id"]))["status"] == "revoked"
            assert (await kw.keys.archive(created["id"]))["status"] == "archived"
            assert (await kw.keys.usage(created["id"]))["key_id"] == created["id"]
            project = await kw.projects.create("Async project", apis=["data"])
            assert (await kw.projects.get(project["id"]))["name"] == "Async project"
            assert project["id"] in [p["id"] for p in await kw.projects.list()]
            await kw.projects.update(project["id"], name="Async project 2")
            events = [e async for e in kw.audit.search(target=created["id"], limit=2)]
            assert events[-1]["action"] == "key.created"
            page = await kw.audit.search_page(target=created["id"], limit=1)
            assert page.next_cursor is not None
            with pytest.raises(keyward.NotFoundError):
                await kw.projects.get("proj_00000000000000000000")

    asyncio.run(scenario())
