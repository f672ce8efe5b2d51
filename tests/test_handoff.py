"""A request for a person is a stored state, not a sentence: every trigger records it the same way, tells the
visitor and every dashboard on every node, and an agent's takeover (or a close) ends it."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select

from hub.settings import Settings
from hub.store.database import open_engine
from hub.store.models import PLATFORM_BUSINESS_ID, Tenant
from hub.store.tables import handoffs, webhook_deliveries
from hub.store.webhooks import create_endpoint
from tests.accounts import create_tenant
from tests.agents import agent_account, agent_socket, login
from tests.conftest import SECRET, RunningHub, serve_hub, visitor
from tests.fake_openai import Behaviour, FakeOpenAI, fake_openai
from tests.services import HubProcess

PERSON = "Can I talk to a human please?"


def handoff_message(frame: dict[str, Any]) -> bool:
    return frame["type"] == "message" and frame["role"] == "system" and frame.get("event") == "handoff_requested"


def waiting_patch(session_id: str) -> Any:
    return lambda f: f["type"] == "session" and f["session"]["id"] == session_id and f["session"].get("waiting")


async def handoff_rows(engine_url_or_hub: Any, tenant_id: str) -> list[Any]:
    engine = engine_url_or_hub.node.engine if isinstance(engine_url_or_hub, RunningHub) else None
    own = engine is None
    if own:
        engine = open_engine(engine_url_or_hub)
    assert engine is not None
    try:
        async with engine.connect() as connection:
            query = select(handoffs).where(handoffs.c.tenant_id == tenant_id).order_by(handoffs.c.requested_at)
            return list((await connection.execute(query)).all())
    finally:
        if own:
            await engine.dispose()


@pytest.fixture
def two_nodes(redis_url: str, postgres_url: str) -> Iterator[tuple[HubProcess, HubProcess]]:
    prefix = f"bobtest-{secrets.token_hex(4)}"
    env = {
        "HUB_DATABASE_URL": postgres_url,
        "HUB_REDIS_URL": redis_url,
        "HUB_REDIS_PREFIX": prefix,
        "HUB_SECRET_KEY": SECRET,
        "HUB_LOG_LEVEL": "warning",
    }
    nodes = HubProcess(env), HubProcess(env)
    for node in nodes:
        node.start()
    try:
        yield nodes
    finally:
        for node in nodes:
            node.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


async def test_the_visitors_request_is_recorded_told_on_every_node_and_ended_by_a_takeover(
    two_nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant, postgres_url: str
) -> None:
    node_a, node_b = two_nodes
    engine = open_engine(postgres_url)
    try:
        email = await agent_account(engine, pg_tenant.id, "Anna")
    finally:
        await engine.dispose()
    token = (await login(node_b.http, email))["token"]
    async with agent_socket(node_b.ws, token=token) as agent, visitor(node_a.ws, pg_tenant.id) as client:
        session_id = client.ready["session_id"]
        await client.send({"type": "handoff", "reason": "I want to change my order"})
        told = (await client.until(handoff_message))[-1]
        assert "person" in told["text"]
        patch = (await agent.until(waiting_patch(session_id)))[-1]["session"]
        assert patch["waiting"]["reason"] == "visitor" and patch["waiting"]["note"] == "I want to change my order"

        await client.send({"type": "handoff"})  # asking again while waiting changes nothing
        await client.send({"type": "ping"})
        again = await client.until(lambda f: f["type"] == "pong")
        assert not any(handoff_message(f) for f in again)

        async with agent_socket(node_b.ws, token=token) as later:
            [row] = [s for s in later.sessions if s["id"] == session_id]
            assert row["waiting"]["reason"] == "visitor", "the snapshot shows who waits"

        assert (await agent.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
        ended = await agent.seen(
            lambda f: f["type"] == "session" and "waiting" in f["session"] and not f["session"]["waiting"]
        )
        assert ended["session"]["mode"] == "human"
    [handoff] = await handoff_rows(postgres_url, pg_tenant.id)
    assert (handoff.reason, handoff.outcome, handoff.taken_by) == (
        "visitor",
        "taken",
        (await login(node_b.http, email))["user"]["id"],
    )


async def test_the_ai_hearing_a_request_for_a_person_records_it(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client:
        await client.say(PERSON)
        frames = await client.until(handoff_message, timeout=10)
    reply = next(f for f in frames if f["type"] == "message" and f["role"] == "ai")
    assert "let the team" in reply["text"], "the AI says so, and now it is true"
    [handoff] = await handoff_rows(hub, tenant.id)
    assert (handoff.reason, handoff.outcome) == ("ai", None)


@pytest.fixture
async def openai_hub(settings: Settings) -> AsyncIterator[tuple[RunningHub, FakeOpenAI]]:
    async with fake_openai() as fake:
        configured = dataclasses.replace(settings, ai_provider="openai", openai_base_url=fake.base_url)
        async with serve_hub(configured) as running:
            yield running, fake


async def test_the_model_calling_request_human_hands_the_visitor_to_a_person(
    openai_hub: tuple[RunningHub, FakeOpenAI],
) -> None:
    hub, fake = openai_hub
    tenant = await hub.tenant()
    fake.behaviour = Behaviour(tokens=(), tool_call=("request_human", '{"reason": "refund above my limit"}'))
    async with visitor(hub.ws, tenant.id) as client:
        await client.say("I want a refund of 5000 EUR")
        frames = await client.until(handoff_message, timeout=10)
    assert not any(f["type"] == "message" and f["role"] == "ai" for f in frames), "a tool call alone stores no reply"
    request = await fake.request(1)
    assert request.body["tools"][0]["function"]["name"] == "request_human", "the model is offered the tool"
    [handoff] = await handoff_rows(hub, tenant.id)
    assert (handoff.reason, handoff.note) == ("ai", "refund above my limit")

    fake.behaviour = Behaviour(tokens=("Of course,", " a colleague", " will join."), tool_call=("request_human", "{}"))
    async with visitor(hub.ws, tenant.id) as other:
        await other.say("Please let me talk to someone")
        frames = await other.until(handoff_message, timeout=10)
    reply = next(f for f in frames if f["type"] == "message" and f["role"] == "ai")
    assert reply["text"] == "Of course, a colleague will join." and frames.index(reply) < len(frames) - 1


async def test_http_turns_can_ask_for_a_person_and_a_quiet_ai_lets_them_wait_without_a_reply(hub: RunningHub) -> None:
    platform = await create_tenant(hub.node.engine, name="Office16852", business_id=PLATFORM_BUSINESS_ID)
    owner = (await login(hub.http, await agent_account(hub.node.engine, platform.id, "Olga", "owner")))["token"]
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {owner}"}) as portal:
        assert (await portal.get("/api/settings")).json()["ai_while_waiting"] is True
        changed = await portal.patch("/api/settings", json={"ai_while_waiting": False})
        assert changed.status_code == 200 and changed.json()["ai_while_waiting"] is False
        assert (await portal.patch("/api/settings", json={"escalate_after_s": 5})).status_code == 400
    async with httpx.AsyncClient(base_url=hub.http, timeout=15) as client:
        first = await client.post("/api/chat", json={"session_id": "s1", "message": "Hello", "handoff": True})
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["waiting"] is True and body["reply"] is None, "the AI keeps quiet while a person is on the way"
        assert any(m.get("event") == "handoff_requested" for m in body["messages"])
        started = asyncio.get_running_loop().time()
        second = (await client.post("/api/chat", json={"session_id": "s1", "message": "Still there?"})).json()
        assert second["waiting"] is True and second["reply"] is None
        assert asyncio.get_running_loop().time() - started < 5, "no reply is waited for when none will come"


async def test_a_session_closed_while_waiting_is_a_missed_handoff_and_an_event(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    await create_endpoint(hub.node.engine, tenant.id, "https://hooks.example.com/h", ["session.handoff_requested"], "")
    token = (await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Ben")))["token"]
    async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=token) as agent:
        await client.send({"type": "handoff"})
        await client.until(handoff_message)
        assert (await agent.command({"type": "close", "session_id": client.ready["session_id"]}))["type"] == "ok"
    [handoff] = await handoff_rows(hub, tenant.id)
    assert (handoff.reason, handoff.outcome, handoff.taken_by) == ("visitor", "missed", None)
    async with hub.node.engine.connect() as connection:
        kinds = (
            await connection.execute(
                select(webhook_deliveries.c.event_type).where(webhook_deliveries.c.tenant_id == tenant.id)
            )
        ).scalars()
        assert list(kinds) == ["session.handoff_requested"]


async def test_an_agent_never_hears_of_another_tenants_waiting_visitors(hub: RunningHub) -> None:
    shop_a, shop_b = await hub.tenant(), await hub.tenant()
    token_b = (await login(hub.http, await agent_account(hub.node.engine, shop_b.id, "Bea")))["token"]
    async with agent_socket(hub.ws, token=token_b) as agent_b, visitor(hub.ws, shop_a.id) as client:
        await client.send({"type": "handoff"})
        await client.until(handoff_message)
        await agent_b.send({"type": "ping"})
        frames = await agent_b.until(lambda f: f["type"] == "pong")
        assert not any(f["type"] == "session" for f in frames), "no frame of tenant A reaches tenant B's agent"
        watched = await agent_b.command({"type": "watch", "session_id": client.ready["session_id"]})
        assert watched["code"] == "unknown_session"
