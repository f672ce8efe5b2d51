"""Two hub processes sharing one Redis and one PostgreSQL: one conversation, any node."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from hub.store.database import open_engine
from hub.store.models import Tenant
from tests.conftest import SECRET, Visitor, is_ai_message, visitor
from tests.services import HubProcess, two_nodes


@pytest.fixture(scope="module")
def nodes(redis_url: str, postgres_url: str) -> Iterator[tuple[HubProcess, HubProcess]]:
    env = {
        "HUB_SECRET_KEY": SECRET,
        "HUB_AI_TOKEN_DELAY_MS": "15",
    }
    with two_nodes(redis_url, postgres_url, env) as pair:
        yield pair


def join_query(client: Visitor, last_seq: int = 0) -> str:
    return f"session_id={client.ready['session_id']}&resume_token={client.ready['resume_token']}&last_seq={last_seq}"


async def test_conversation_started_on_node_a_is_followed_and_continued_from_node_b(
    nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant
) -> None:
    node_a, node_b = nodes
    async with visitor(node_a.ws, pg_tenant.id) as on_a:
        async with visitor(node_b.ws, pg_tenant.id, query=join_query(on_a)) as on_b:
            await on_a.say("Hello from node A, who are you?")
            seen_a = await on_a.ai_reply()
            seen_b = await on_b.ai_reply()
            assert seen_a == seen_b, "node B sees the same frames, tokens included, in the same order"
            assert any(frame["type"] == "token" for frame in seen_b)

            await on_b.say("And hello from node B")
            from_b_on_a = await on_a.ai_reply()
            from_b_on_b = await on_b.ai_reply()
            assert from_b_on_a == from_b_on_b
            assert [f["seq"] for f in from_b_on_a if f["type"] == "message"] == [3, 4]


async def test_visitor_who_reconnects_on_the_other_node_loses_nothing(
    nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant
) -> None:
    node_a, node_b = nodes
    async with visitor(node_a.ws, pg_tenant.id) as on_a:
        await on_a.say("hello")
        first = await on_a.ai_reply()
        ready = on_a.ready
    async with visitor(node_b.ws, pg_tenant.id) as on_b:
        await on_b.send(
            {"type": "resume", "session_id": ready["session_id"], "resume_token": ready["resume_token"], "last_seq": 0}
        )
        assert (await on_b.recv())["seq"] == 2
        replay = [await on_b.recv(), await on_b.recv()]
        assert replay == [frame for frame in first if frame["type"] == "message"]


async def test_resume_on_other_node_mid_stream_gets_reply_so_far_without_gaps(
    nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant
) -> None:
    node_a, node_b = nodes
    async with visitor(node_a.ws, pg_tenant.id) as on_a:
        await on_a.say("who are you?")
        frames = await on_a.until(lambda f: f["type"] == "token" and f["index"] == 5)
        last_seq = max(frame.get("seq", 0) for frame in frames)
        query = join_query(on_a, last_seq)
    async with visitor(node_b.ws, pg_tenant.id, query=query) as on_b:
        frames = await on_b.ai_reply()
    tokens = [frame for frame in frames if frame["type"] == "token"]
    assert [token["index"] for token in tokens] == list(range(len(tokens)))
    assert "".join(token["text"] for token in tokens) == frames[-1]["text"]


async def test_seq_is_shared_by_all_nodes(nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant) -> None:
    node_a, node_b = nodes
    async with (
        visitor(node_a.ws, pg_tenant.id) as on_a,
        visitor(node_b.ws, pg_tenant.id, query=join_query(on_a)) as on_b,
    ):
        # Both tabs type at once on different nodes; the session still gets one gapless order.
        await asyncio.gather(*(client.say(f"thanks {n}") for n in range(5) for client in (on_a, on_b)))
        frames = await on_a.until(lambda f: f["type"] == "message" and f.get("seq", 0) >= 10, timeout=20)
        seqs = {frame["seq"] for frame in frames if frame["type"] == "message"}
        assert set(range(1, 11)) <= seqs
        assert not any(is_ai_message(frame) and frame["seq"] <= 0 for frame in frames)


async def test_health_reports_database_and_redis(nodes: tuple[HubProcess, HubProcess]) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        for node in nodes:
            report = (await client.get(f"{node.http}/api/health")).json()
            assert report["ok"] is True
            assert report["database"] == {"ok": True, "backend": "postgresql", "writer": {"ok": True}}
            assert report["redis"]["ok"] is True and report["redis"]["subscriber"] is True


async def test_login_throttle_is_shared_by_all_nodes_through_redis(
    nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant, postgres_url: str
) -> None:
    import httpx

    from tests.accounts import create_user

    engine = open_engine(postgres_url)
    email = f"agent-{pg_tenant.business_id}@example.com"
    try:
        await create_user(engine, tenant_id=pg_tenant.id, email=email, password="right-password", role="agent")
    finally:
        await engine.dispose()
    node_a, node_b = nodes
    async with httpx.AsyncClient() as client:
        for node in (node_a, node_b, node_a, node_b, node_a):
            wrong = await client.post(f"{node.http}/api/auth/login", json={"email": email, "password": "wrong-one"})
            assert wrong.status_code == 401
        blocked = await client.post(
            f"{node_b.http}/api/auth/login", json={"email": email, "password": "right-password"}
        )
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
