"""PostgreSQL faults between a node and its database, played by a cuttable TCP proxy: the node notices,
says so in its health, and heals by itself once the network does, losing nothing it acknowledged."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from hub.settings import Settings
from hub.store.database import open_engine
from hub.store.transcript import messages_after
from tests.accounts import create_widget_key
from tests.conftest import RunningHub, Visitor, serve_hub, visitor
from tests.proxy import Proxy, proxy_to

TIMEOUT_S = 1.0  # the node's bound on every statement (HUB_DATABASE_TIMEOUT_S), short for the test


@pytest.fixture
async def database_proxy(postgres_url: str) -> AsyncIterator[tuple[Proxy, str]]:
    """A proxy to the test database, and the database URL through it."""
    parts = urlsplit(postgres_url)
    assert parts.hostname is not None and parts.port is not None
    async with proxy_to(parts.hostname, parts.port) as proxy:
        yield proxy, postgres_url.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}", 1)


@pytest.fixture
async def proxied_hub(settings: Settings, database_proxy: tuple[Proxy, str]) -> AsyncIterator[RunningHub]:
    _, url = database_proxy
    # No AI: the test is about the writer, and a reply stored around the fault would move the seqs.
    configured = dataclasses.replace(settings, database_url=url, database_timeout_s=TIMEOUT_S, ai_provider="none")
    async with serve_hub(configured) as running:
        yield running


async def health(hub: RunningHub) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=hub.http, timeout=10) as client:
        response = await client.get("/api/health")
    body: dict[str, Any] = response.json()
    return response.status_code, body


async def stored_ack(client: Visitor, text: str, client_id: str, deadline_s: float) -> dict[str, Any]:
    """Send until the stored ``message`` frame with this client_id comes back (a refusal is sent again)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    while loop.time() < deadline:
        await client.say(text, client_id=client_id)
        try:
            while True:
                frame = await client.recv(timeout=max(0.1, deadline - loop.time()))
                if frame["type"] == "message" and frame.get("client_id") == client_id:
                    return frame
                if frame["type"] == "error" and frame["code"] in ("not_stored", "internal"):
                    break  # refused: nothing was stored, send it again
        except TimeoutError:
            break
        await asyncio.sleep(0.2)
    raise AssertionError(f"{text!r} was never stored within {deadline_s} s")


async def test_half_open_database_connections_heal_when_the_network_does_and_health_tells_meanwhile(
    proxied_hub: RunningHub, database_proxy: tuple[Proxy, str], postgres_url: str
) -> None:
    hub = proxied_hub
    proxy, _ = database_proxy
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client:
        await stored_ack(client, "before", "c-1", deadline_s=10)
        assert (await health(hub))[0] == 200

        # What a failover or a NAT timeout does: every open connection goes silent for good, and for a
        # while new ones are accepted and hear nothing either.
        proxy.blackhole()
        await client.say("during", client_id="c-2")
        refused = await client.until(lambda f: f["type"] == "error", timeout=TIMEOUT_S * 8)
        assert refused[-1]["code"] == "not_stored", "a write that cannot finish is refused, not left hanging"
        status, report = await health(hub)
        assert status == 503, report

        proxy.heal()  # new connections pass again; the frozen ones never come back
        loop = asyncio.get_running_loop()
        healed_at = loop.time()
        during = await stored_ack(client, "during", "c-2", deadline_s=TIMEOUT_S * 10)
        after = await stored_ack(client, "after", "c-3", deadline_s=TIMEOUT_S * 10)
        assert loop.time() - healed_at < TIMEOUT_S * 10, "the node healed by itself, soon after the network did"
        assert (during["seq"], after["seq"]) == (2, 3)
        for _ in range(50):
            if (await health(hub))[0] == 200:
                break
            await asyncio.sleep(0.2)
        assert (await health(hub))[0] == 200

    engine = open_engine(postgres_url)
    try:
        transcript = await messages_after(engine, tenant.id, client.ready["session_id"], 0)
    finally:
        await engine.dispose()
    visitor_lines = [(m.seq, m.text) for m in transcript if m.role == "visitor"]
    assert [text for _, text in visitor_lines] == ["before", "during", "after"], "each stored once, in order"


@pytest.fixture
async def slow_proxied_hub(settings: Settings, database_proxy: tuple[Proxy, str]) -> AsyncIterator[RunningHub]:
    _, url = database_proxy
    configured = dataclasses.replace(settings, database_url=url, database_timeout_s=TIMEOUT_S, ai_token_delay_ms=60)
    async with serve_hub(configured) as running:
        yield running


async def test_a_reply_streamed_while_the_database_refuses_is_stored_once_it_is_back(
    slow_proxied_hub: RunningHub, database_proxy: tuple[Proxy, str], postgres_url: str
) -> None:
    hub = slow_proxied_hub
    proxy, _ = database_proxy
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client:
        await client.say("hello", client_id="c-1")
        first_token = (await client.until(lambda f: f["type"] == "token", timeout=10))[-1]
        # The database goes away while the reply streams: its connections drop, new ones are refused.
        proxy.refuse()
        proxy.cut()
        await asyncio.sleep(2.5)  # the whole reply streams meanwhile, and its store fails
        proxy.heal()
        frames = await client.until(lambda f: f["type"] == "message" and f["role"] == "ai", timeout=20)
        reply = frames[-1]
        tokens = [f["text"] for f in frames if f["type"] == "token"]
        assert reply["id"] == first_token["message_id"], "the reply the visitor watched streaming is the one stored"
        assert reply["text"].startswith(first_token["text"]) and reply["text"].endswith("".join(tokens))
        assert not reply.get("truncated")

    engine = open_engine(postgres_url)
    try:
        transcript = await messages_after(engine, tenant.id, client.ready["session_id"], 0)
    finally:
        await engine.dispose()
    assert [(m.role, m.id) for m in transcript] == [("visitor", transcript[0].id), ("ai", reply["id"])], "once"


async def test_http_calls_while_the_database_is_away_answer_503_retry_never_500(
    proxied_hub: RunningHub, database_proxy: tuple[Proxy, str]
) -> None:
    hub = proxied_hub
    proxy, _ = database_proxy
    tenant = await hub.tenant(origins=("https://shop.example.com",))
    key = await create_widget_key(hub.node.engine, tenant.id, ["https://shop.example.com"])
    proxy.refuse()
    proxy.cut()
    async with httpx.AsyncClient(base_url=hub.http, timeout=TIMEOUT_S * 10) as client:
        widget = await client.post(
            "/api/widget/chat",
            json={"session_id": "s-1", "message": "hello"},
            headers={"X-Widget-Key": key.key, "Origin": "https://shop.example.com"},
        )
        public = await client.post("/api/chat", json={"session_id": "s-1", "message": "hello", "business_id": "x"})
    assert widget.status_code == 503 and widget.json()["error"]["code"] == "unavailable", widget.text
    assert widget.headers["access-control-allow-origin"] == "https://shop.example.com", "the page can read it"
    assert widget.headers["retry-after"]
    assert public.status_code == 503, public.text


async def test_a_message_stored_on_another_node_while_this_one_holds_the_reply_claim_is_answered(
    settings: Settings,
    database_proxy: tuple[Proxy, str],
    postgres_url: str,
    redis_url: str,
    redis_prefix: str,
    pg_tenant: Any,
) -> None:
    """Node A has just replied and holds the session's reply claim for one more look at the store, which its slow
    database answers late. Meanwhile the visitor's next line is stored on node B, whose claim fails: the line is
    left to A. A looked before that line was committed, so it must look again once it lets the claim go.

    The timeline, from the moment the visitor sees A's reply: A's connection answers its last statement 0.1 s
    late, then A asks the store again (executed at once) and hears back 0.6 s later; the next line is stored on
    B at 0.35 s, inside that window."""
    proxy, slow_url = database_proxy
    shared = dataclasses.replace(settings, redis_url=redis_url, redis_prefix=redis_prefix, ai_token_delay_ms=0)
    on_a = dataclasses.replace(shared, database_url=slow_url, node_id="node-a")
    on_b = dataclasses.replace(shared, database_url=postgres_url, node_id="node-b")
    async with serve_hub(on_a) as hub_a, serve_hub(on_b) as hub_b:
        async with visitor(hub_a.ws, pg_tenant.id) as at_a:
            resume = f"session_id={at_a.ready['session_id']}&resume_token={at_a.ready['resume_token']}&last_seq=0"
            async with visitor(hub_b.ws, pg_tenant.id, query=resume) as at_b:
                proxy.slow_answers(0.1)  # node A's database answers every statement a little late
                await at_a.say("Hello!")
                await at_b.until(lambda f: f["type"] == "message" and f["role"] == "ai", timeout=30)
                proxy.slow_answers(0.6)  # A's next look at the store is answered late
                await asyncio.sleep(0.35)
                await at_b.say("How much is a new chain?")  # stored on B now; B's claim fails, A holds it
                proxy.slow_answers(0)
                frames = await at_b.until(lambda f: f["type"] == "message" and f["role"] == "ai", timeout=30)
                assert frames[-1]["replies_to"] == 3, "the second line was answered"
