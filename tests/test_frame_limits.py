"""How much a socket may send: rate limits on visitor messages and frames, and what a flood of bad frames gets.

Issue 16, defects 6 and 7: one visitor socket stored 1,650 rows a second, and 2,000 invalid frames
closed their sender with 4408 (its own error frames overflowed its queue) before it read one error.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import orjson
import websockets
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.settings import Settings
from hub.store.models import Tenant
from hub.store.tables import messages
from tests.agents import agent_account, agent_socket, login
from tests.conftest import RunningHub, Visitor, is_ai_message, serve_hub, two_hubs, visitor
from tests.test_throttle import clear_of_window_edge


async def stored(engine: AsyncEngine, session_id: str) -> int:
    async with engine.connect() as connection:
        count = await connection.scalar(
            select(func.count())
            .select_from(messages)
            .where(messages.c.session_id == session_id, messages.c.role == "visitor")
        )
    return int(count or 0)


async def flood(client: Visitor, frames: list[str]) -> int:
    """Send every frame without reading; returns how many went out before the hub closed the socket."""
    for sent, frame in enumerate(frames):
        try:
            await client.connection.send(frame)
        except websockets.ConnectionClosed:
            return sent
    return len(frames)


async def answers(client: Visitor, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The next ``count`` answers to the client's own frames: its messages' echoes, pongs and errors."""
    found: list[dict[str, Any]] = []
    while len(found) < count:
        frame = await client.recv(timeout)
        if frame["type"] in ("error", "pong") or (frame["type"] == "message" and frame["role"] == "visitor"):
            found.append(frame)
    return found


async def until_closed(client: Visitor, timeout: float = 20.0) -> tuple[list[dict[str, Any]], int | None, str]:
    """Every frame left, then the close code and reason."""
    frames: list[dict[str, Any]] = []
    try:
        while True:
            frames.append(orjson.loads(await asyncio.wait_for(client.connection.recv(), timeout)))
    except websockets.ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None, closed.rcvd.reason if closed.rcvd else ""


def say(n: int) -> str:
    return orjson.dumps({"type": "message", "text": f"flood {n}", "client_id": f"f-{n}"}).decode()


def quiet(settings: Settings, **overrides: object) -> Settings:
    return settings.with_overrides(ai_provider="none", ws_ping_interval_s=0, **overrides)


async def test_a_message_flood_on_one_socket_stores_its_limit_and_answers_rate_limited_with_a_hint(
    settings: Settings,
) -> None:
    """The socket's default, 30 a minute; the conversation's is set per hour here so it never binds first."""
    async with serve_hub(quiet(settings, rate_limit_session="30/hour")) as hub:
        tenant = await hub.tenant()
        await clear_of_window_edge(3600)
        async with visitor(hub.ws, tenant.id) as client:
            await flood(client, [say(n) for n in range(40)])
            got = await answers(client, 40)
            echoed = [frame for frame in got if frame["type"] == "message"]
            refused = [frame for frame in got if frame["type"] == "error"]
            assert [frame["client_id"] for frame in echoed] == [f"f-{n}" for n in range(30)]
            assert len(refused) == 10 and {frame["code"] for frame in refused} == {"rate_limited"}
            assert all(isinstance(frame["retry_after"], int) and frame["retry_after"] >= 1 for frame in refused)
            assert "retry in" in refused[0]["message"]
            # Refused means not stored, and the socket stays usable.
            assert await stored(hub.node.engine, client.ready["session_id"]) == 30
            await client.send({"type": "ping"})
            assert (await answers(client, 1))[0]["type"] == "pong"


async def test_a_socket_that_keeps_hammering_is_closed_with_1008_and_a_reason(settings: Settings) -> None:
    async with serve_hub(quiet(settings, rate_limit_session="30/hour")) as hub:
        tenant = await hub.tenant()
        await clear_of_window_edge(3600)
        async with visitor(hub.ws, tenant.id) as client:
            await flood(client, [say(n) for n in range(300)])
            frames, code, reason = await until_closed(client)
            assert code == 1008 and reason == "too many refused frames (invalid, or over a rate limit)"
            errors = [frame for frame in frames if frame["type"] == "error"]
            assert len(errors) == 21, "20 refusals a minute are answered; the 21st is answered, then the close"
            assert {frame["code"] for frame in errors} == {"rate_limited"}
            assert len([frame for frame in frames if frame["type"] == "message"]) == 30
            assert await stored(hub.node.engine, client.ready["session_id"]) == 30


async def test_cheap_frames_have_a_looser_limit_of_their_own(settings: Settings) -> None:
    async with serve_hub(quiet(settings)) as hub:
        tenant = await hub.tenant()
        async with visitor(hub.ws, tenant.id) as client:
            typing = orjson.dumps({"type": "typing", "active": True}).decode()
            await flood(client, [typing] * 60 + ['{"type":"ping"}'] * 70)
            got = await answers(client, 70)  # typing frames are relayed, not answered
            assert [frame["type"] for frame in got] == ["pong"] * 60 + ["error"] * 10
            assert got[-1]["code"] == "rate_limited" and "frames on this connection" in got[-1]["message"]


async def test_a_burst_of_2000_invalid_frames_gets_errors_and_then_1008_never_4408(settings: Settings) -> None:
    async with serve_hub(quiet(settings)) as hub:
        tenant = await hub.tenant()
        async with visitor(hub.ws, tenant.id) as client:
            await flood(client, ["{not json"] * 2000)
            frames, code, reason = await until_closed(client)
    assert code == 1008, (code, reason)
    assert "too many refused frames" in reason
    assert len(frames) == 21 and {frame["code"] for frame in frames} == {"invalid_json"}


async def test_every_error_of_a_burst_arrives_when_refusals_are_allowed(settings: Settings) -> None:
    """Answers wait for room in the socket's queue: 2,000 errors through a 1,024-frame queue, no 4408."""
    allowing = quiet(settings, rate_limit_socket_frames="10000/minute", rate_limit_socket_refusals="10000/minute")
    async with serve_hub(allowing) as hub:
        tenant = await hub.tenant()
        async with visitor(hub.ws, tenant.id) as client:
            await flood(client, ["[1, 2]"] * 2000)
            got = await answers(client, 2000)
            assert {frame["code"] for frame in got} == {"invalid_frame"}
            await client.send({"type": "ping"})
            assert (await answers(client, 1))[0]["type"] == "pong", "still open"


async def test_the_agent_socket_closes_a_flood_of_bad_frames_with_1008_after_its_errors(settings: Settings) -> None:
    async with serve_hub(quiet(settings)) as hub:
        tenant = await hub.tenant()
        token = (await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Ann")))["token"]
        async with agent_socket(hub.ws, token=token) as agent:
            for _ in range(2000):
                try:
                    await agent.connection.send('{"type":"no-such-frame"}')
                except websockets.ConnectionClosed:
                    break
            frames: list[dict[str, Any]] = []
            try:
                while True:
                    frames.append(await agent.recv(timeout=20))
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 1008, closed
    errors = [frame for frame in frames if frame["type"] == "error"]
    assert len(errors) == 21 and {frame["code"] for frame in errors} == {"unknown_type"}


async def test_a_conversations_limit_holds_across_two_sockets_on_two_nodes_sharing_redis(
    shared_settings: Settings,
) -> None:
    async with two_hubs(quiet(shared_settings, rate_limit_session="6/hour")) as (node_a, node_b):
        tenant = await node_a.tenant()
        await clear_of_window_edge(3600)
        async with visitor(node_a.ws, tenant.id) as on_a:
            ready = on_a.ready
            query = f"session_id={ready['session_id']}&resume_token={ready['resume_token']}&last_seq=0"
            async with visitor(node_b.ws, tenant.id, query=query) as on_b:
                await flood(on_a, [say(n) for n in range(4)])
                assert [frame["type"] for frame in await answers(on_a, 4)] == ["message"] * 4
                await flood(on_b, [say(n) for n in range(4, 8)])
                got = [frame for frame in await answers(on_b, 8) if frame.get("client_id", "f-4") >= "f-4"]
        codes = [frame.get("code") or frame["client_id"] for frame in got]
        assert codes == ["f-4", "f-5", "rate_limited", "rate_limited"], codes
        assert "in this conversation" in got[-1]["message"]
        assert await stored(node_a.node.engine, ready["session_id"]) == 6


async def test_the_http_paths_and_the_socket_share_the_per_address_budget(settings: Settings) -> None:
    async with serve_hub(quiet(settings, rate_limit_address="5/hour")) as hub:
        tenant = await hub.tenant()
        await clear_of_window_edge(3600)
        async with httpx.AsyncClient(base_url=hub.http) as client:
            body = {"session_id": "over-http", "business_id": tenant.business_id}
            for n in range(3):
                answered = await client.post("/api/chat", json={**body, "message": f"http {n}"})
                assert answered.status_code == 200, answered.text
        async with visitor(hub.ws, tenant.id) as socket:
            await flood(socket, [say(n) for n in range(3)])
            got = await answers(socket, 3)
        assert [frame["type"] for frame in got] == ["message", "message", "error"]
        assert got[-1]["code"] == "rate_limited" and "from this address" in got[-1]["message"]


async def test_a_normal_conversation_and_a_resume_that_resends_pending_messages_are_never_limited(
    hub: RunningHub,
) -> None:
    """Defaults: a person chatting, typing and pinging, then a reconnect that resends what it had not seen echoed."""
    tenant: Tenant = await hub.tenant()
    sent: list[str] = []
    async with visitor(hub.ws, tenant.id) as client:
        ready = client.ready
        for n in range(12):
            await client.send({"type": "typing", "active": True})
            client_id = uuid.uuid4().hex
            sent.append(client_id)
            await client.say(f"question {n}", client_id=client_id)
            frames = await client.ai_reply()
            assert not [frame for frame in frames if frame["type"] == "error"], frames
            await client.send({"type": "ping"})
            assert (await client.until(lambda f: f["type"] in ("pong", "error")))[-1]["type"] == "pong"
    query = f"session_id={ready['session_id']}&resume_token={ready['resume_token']}&last_seq=24"
    async with visitor(hub.ws, tenant.id, query=query) as back:
        resend = [*sent[-3:], "new-1", "new-2"]
        for client_id in resend:
            await back.say("again" if client_id.startswith("new") else "resent", client_id=client_id)
        seen = await back.until(lambda f: f.get("client_id") == "new-2" or f["type"] == "error", timeout=10)
        assert not [frame for frame in seen if frame["type"] == "error"], seen
        await back.until(is_ai_message, timeout=10)
    assert await stored(hub.node.engine, ready["session_id"]) == 14
