"""Mission Control across hub processes sharing one Redis and one PostgreSQL: the visitor on one node,
agents on others, the AI reply generated wherever the visitor's message arrived."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from hub.store.database import open_engine
from hub.store.models import Tenant
from tests.agents import agent_account, agent_socket, login
from tests.conftest import SECRET, is_ai_message, visitor
from tests.services import HubProcess, two_nodes

LOCK_TTL_S = 2.0
PRESENCE_TTL_S = 1.5
LONG_QUESTION = "Tell me everything about your opening hours and prices please"


@pytest.fixture(scope="module")
def nodes(redis_url: str, postgres_url: str) -> Iterator[tuple[HubProcess, HubProcess]]:
    env = {
        "HUB_SECRET_KEY": SECRET,
        "HUB_AI_TOKEN_DELAY_MS": "40",
        "HUB_TAKEOVER_LOCK_TTL_S": str(LOCK_TTL_S),
        "HUB_PRESENCE_TTL_S": str(PRESENCE_TTL_S),
    }
    with two_nodes(redis_url, postgres_url, env) as pair:
        yield pair


async def agent_token(postgres_url: str, node: HubProcess, tenant: Tenant, name: str) -> str:
    engine = open_engine(postgres_url)
    try:
        email = await agent_account(engine, tenant.id, name)
    finally:
        await engine.dispose()
    return str((await login(node.http, email))["token"])


async def test_takeover_on_node_b_stops_the_ai_stream_generated_on_node_a(
    nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant, postgres_url: str
) -> None:
    node_a, node_b = nodes
    token = await agent_token(postgres_url, node_b, pg_tenant, "Anna")
    async with visitor(node_a.ws, pg_tenant.id) as client, agent_socket(node_b.ws, token=token) as agent:
        await client.say(LONG_QUESTION)
        session_id = client.ready["session_id"]
        created = await agent.seen(lambda f: f["type"] == "session" and f["session"].get("seq") == 1)
        assert created["session"]["id"] == session_id and created["session"]["visitor_online"] is True
        await agent.watch(session_id)
        await agent.until(lambda f: f.get("type") == "token" and f["index"] >= 2)
        answer = await agent.command({"type": "takeover", "session_id": session_id})
        assert answer["type"] == "ok", answer
        acted = time.monotonic()

        frames = await client.until(lambda f: f["type"] == "message" and f["role"] == "system")
        if not any(is_ai_message(f) for f in frames):
            frames += await client.until(is_ai_message)
        cut = next(f for f in frames if is_ai_message(f))
        assert cut["truncated"] is True
        last_token_at = acted
        try:
            while True:
                frame = await client.recv(timeout=1.0)
                assert frame["type"] != "message" or frame["role"] != "ai", frame
                if frame["type"] == "token":
                    last_token_at = time.monotonic()
        except TimeoutError:
            pass
        assert last_token_at - acted < 0.3, "the stream stopped everywhere within a few hundred milliseconds"
        tokens_seen_by_agent = [f for f in agent.history if f.get("type") == "token" and f["message_id"] == cut["id"]]
        assert "".join(f["text"] for f in tokens_seen_by_agent).startswith(cut["text"][:10])

        # Human mode: the visitor's next line gets no AI answer, the agent's reply reaches node A live.
        await client.say("Hello? Is someone there?")
        await agent.seen(lambda f: f.get("type") == "message" and f.get("role") == "visitor" and f["seq"] > cut["seq"])
        sent = await agent.command({"type": "message", "session_id": session_id, "text": "Anna here, hi!"})
        assert sent["type"] == "ok"
        frames = await client.until(lambda f: f["type"] == "message" and f["role"] == "agent")
        assert frames[-1]["text"] == "Anna here, hi!"
        assert not any(f["type"] == "token" or is_ai_message(f) for f in frames)

        # Handback on node B: the AI on node A answers again.
        assert (await agent.command({"type": "handback", "session_id": session_id}))["type"] == "ok"
        await client.until(lambda f: f["type"] == "message" and f["text"] == "Anna handed the chat back to Bob")
        await client.say("what are your opening hours?")
        await client.ai_reply(timeout=15)


async def test_second_agent_on_another_node_is_refused_until_the_owners_node_dies(
    nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant, postgres_url: str
) -> None:
    node_a, node_b = nodes
    node_c = HubProcess(node_a.env)
    node_c.start()
    try:
        anna = await agent_token(postgres_url, node_c, pg_tenant, "Anna")
        ben = await agent_token(postgres_url, node_a, pg_tenant, "Ben")
        async with visitor(node_b.ws, pg_tenant.id) as client:
            await client.say("hi")
            await client.ai_reply(timeout=15)
            session_id = client.ready["session_id"]
            async with agent_socket(node_a.ws, token=ben) as second:
                async with agent_socket(node_c.ws, token=anna) as first:
                    assert (await first.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
                    await client.until(lambda f: f["type"] == "message" and f["text"] == "Anna joined the chat")
                    await asyncio.sleep(LOCK_TTL_S * 1.5)  # renewals keep the claim past its TTL
                    refused = await second.command({"type": "takeover", "session_id": session_id})
                    assert refused["code"] == "owned_by_other" and refused["owner"]["name"] == "Anna"
                    node_c.kill()
                    started = time.monotonic()
                    while True:
                        answer = await second.command({"type": "takeover", "session_id": session_id})
                        if answer["type"] == "ok":
                            break
                        assert answer["code"] == "owned_by_other"
                        assert time.monotonic() - started < LOCK_TTL_S + 3, "the dead node's claim never lapsed"
                        await asyncio.sleep(0.25)
            await client.until(lambda f: f["type"] == "message" and f["text"] == "Ben joined the chat")
    finally:
        node_c.stop()


async def test_visitors_of_a_node_that_dies_show_as_offline(
    nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant, postgres_url: str
) -> None:
    node_a, _ = nodes
    node_c = HubProcess(node_a.env)
    node_c.start()
    try:
        token = await agent_token(postgres_url, node_a, pg_tenant, "Anna")
        async with agent_socket(node_a.ws, token=token) as agent:
            async with visitor(node_c.ws, pg_tenant.id) as client:
                await client.say("hi from node C")
                session_id = client.ready["session_id"]
                created = await agent.seen(lambda f: f["type"] == "session" and f["session"].get("seq") == 1)
                assert created["session"]["visitor_online"] is True
                node_c.kill()  # no goodbye from node C: its presence marks simply stop being renewed
                offline = await agent.until(
                    lambda f: f["type"] == "session" and f["session"] == {"id": session_id, "visitor_online": False},
                    timeout=PRESENCE_TTL_S * 3 + 2,
                )
                assert offline
    finally:
        node_c.stop()
