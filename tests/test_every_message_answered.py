"""Every visitor message gets an answer, exactly once: also the ones sent while a reply streams, on one
socket, on two sockets of one session on two nodes, and over overlapping HTTP calls.

The reply in flight finishes first; then one reply follows that takes every message sent meanwhile
into account (its ``replies_to`` is the newest seq it considered)."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis

from hub.settings import Settings
from hub.store.models import PLATFORM_BUSINESS_ID, Tenant
from tests.accounts import create_tenant
from tests.conftest import SECRET, RunningHub, Visitor, serve_hub, visitor
from tests.services import HubProcess

WHO = "who are you?"
PERSON = "Can I talk to a human please?"
DELAY_MS = 60


@pytest.fixture
async def slow_hub(settings: Settings) -> AsyncIterator[RunningHub]:
    async with serve_hub(dataclasses.replace(settings, ai_token_delay_ms=DELAY_MS)) as running:
        yield running


def replies(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f["type"] == "message" and f["role"] == "ai"]


async def settle(client: Visitor, quiet_s: float = 1.5) -> list[dict[str, Any]]:
    """Every frame until the session is quiet (no more replies coming)."""
    frames = []
    while True:
        try:
            frames.append(await client.recv(timeout=quiet_s))
        except TimeoutError:
            return frames


async def test_a_message_sent_while_the_ai_replies_is_answered_by_one_more_reply(slow_hub: RunningHub) -> None:
    tenant = await slow_hub.tenant()
    async with visitor(slow_hub.ws, tenant.id) as client:
        await client.say(WHO)
        await client.until(lambda f: f["type"] == "token")
        await client.say(PERSON)  # the first reply is still streaming
        frames = await settle(client)
    answered = replies(frames)
    assert len(answered) == 2, "one reply each, none twice"
    assert answered[0]["replies_to"] == 1 and answered[1]["replies_to"] >= 2, "the second took the follow-up in"
    assert "let the team" not in answered[0]["text"] and "let the team" in answered[1]["text"], answered
    stored = await slow_hub.node.chat.history(tenant.id, client.ready["session_id"])
    assert [m.role for m in stored] == ["visitor", "visitor", "ai", "ai", "system"], "then a person is asked for"


async def test_a_burst_of_three_is_answered_by_the_reply_in_flight_and_one_more(slow_hub: RunningHub) -> None:
    tenant = await slow_hub.tenant()
    async with visitor(slow_hub.ws, tenant.id) as client:
        await client.say("hello")
        await client.until(lambda f: f["type"] == "token")
        await client.say(WHO)
        await client.say(PERSON)
        frames = await settle(client)
    answered = replies(frames)
    assert len(answered) == 2 and answered[0]["replies_to"] == 1, "the reply in flight, then one more"
    assert answered[1]["replies_to"] >= 3, "the second reply covers both messages sent meanwhile"
    assert "let the team" in answered[1]["text"], "it answers the newest of them"


@pytest.fixture
def two_nodes(redis_url: str, postgres_url: str) -> Iterator[tuple[HubProcess, HubProcess]]:
    prefix = f"bobtest-{secrets.token_hex(4)}"
    env = {
        "HUB_DATABASE_URL": postgres_url,
        "HUB_REDIS_URL": redis_url,
        "HUB_REDIS_PREFIX": prefix,
        "HUB_SECRET_KEY": SECRET,
        "HUB_AI_TOKEN_DELAY_MS": str(DELAY_MS),
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


async def test_a_message_sent_on_another_node_while_the_ai_replies_is_answered_once(
    two_nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant
) -> None:
    node_a, node_b = two_nodes
    async with visitor(node_a.ws, pg_tenant.id) as on_a:
        query = f"session_id={on_a.ready['session_id']}&resume_token={on_a.ready['resume_token']}&last_seq=0"
        async with visitor(node_b.ws, pg_tenant.id, query=query) as on_b:
            await on_a.say(WHO)
            await on_b.until(lambda f: f["type"] == "token")
            await on_b.say(PERSON)  # node B hears it while node A streams the first reply
            frames = await settle(on_b)
    answered = replies(frames)
    assert len(answered) == 2, "no message answered twice"
    assert answered[0]["replies_to"] == 1 and answered[1]["replies_to"] >= 2, "none left out"


async def test_overlapping_http_turns_each_get_the_reply_to_their_own_message(settings: Settings) -> None:
    async with serve_hub(dataclasses.replace(settings, ai_token_delay_ms=DELAY_MS)) as hub:
        await create_tenant(hub.node.engine, name="Office16852", business_id=PLATFORM_BUSINESS_ID)
        async with httpx.AsyncClient(base_url=hub.http, timeout=30) as client:
            await client.post("/api/chat", json={"session_id": "warm-up", "message": "hi"})  # the visitor cookie

            async def turn(text: str) -> dict[str, Any]:
                response = await client.post("/api/chat", json={"session_id": "overlap", "message": text})
                assert response.status_code == 200, response.text
                body: dict[str, Any] = response.json()
                return body

            first = asyncio.create_task(turn(WHO))
            await asyncio.sleep(0.3)  # its reply is streaming when the second call comes
            second = await turn(PERSON)
            first_body = await first
    assert "let the team" not in first_body["reply"] and "let the team" in second["reply"], (first_body, second)
    assert second["seq"] > first_body["seq"]
