"""Mission Control's agent socket on one node: who may connect, the live list, watch, takeover, handback, close."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.auth.permissions import PLATFORM_BUSINESS_ID
from hub.protocol import SessionChange
from hub.settings import Settings
from tests.accounts import create_tenant, create_user
from tests.agents import PASSWORD, agent_account, agent_socket, close_code, login
from tests.conftest import RunningHub, Visitor, is_ai_message, serve_hub, visitor
from tests.services import RedisServer

LONG_QUESTION = "Tell me everything about your opening hours and prices please"


@pytest.fixture
async def slow_hub(settings: Settings) -> AsyncIterator[RunningHub]:
    """The built-in responder pausing 40 ms per token, so a reply is still streaming when an agent acts."""
    async with serve_hub(dataclasses.replace(settings, ai_token_delay_ms=40, takeover_lock_ttl_s=1.5)) as running:
        yield running


async def token_for(hub: RunningHub, tenant_id: str, name: str, role: str = "agent") -> str:
    email = await agent_account(hub.node.engine, tenant_id, name, role)
    return str((await login(hub.http, email))["token"])


def is_system(text: str) -> Any:
    return lambda f: f["type"] == "message" and f["role"] == "system" and f["text"] == text


# Claims lapse after 3 s without renewal (renewed each second): short for a test, long enough that a busy host's
# pauses of the event loop (these hubs run in the test's process) never lapse a renewed one.
CLAIM_TTL_S = 3.0


async def stored_session(client: Visitor) -> str:
    """The visitor says hi; the session's id once it is stored."""
    await client.say("hi")
    await client.until(lambda f: f["type"] == "message" and f["role"] == "visitor")
    return str(client.ready["session_id"])


async def drop_claim(hub: RunningHub, tenant_id: str, session_id: str) -> tuple[str, str]:
    """The session's takeover claim is gone from Redis (as with a restart that lost its data): its key and holder."""
    lock = hub.node.keys.takeover_lock(tenant_id, session_id)
    holder = await hub.node.coord.holder(lock)
    assert holder is not None and await hub.node.coord.release(lock, holder)
    return lock, holder


async def first_exchange(client: Visitor) -> str:
    await client.say("hello")
    await client.ai_reply()
    return str(client.ready["session_id"])


async def test_anonymous_or_unknown_token_is_closed_with_4401(hub: RunningHub) -> None:
    assert (await close_code(hub.ws))[0] == 4401
    assert (await close_code(hub.ws, token="not-a-real-token"))[0] == 4401
    assert (await close_code(hub.ws, cookie="not-a-real-token", origin=hub.http))[0] == 4401


async def test_account_without_chat_manage_is_closed_with_4403(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    email = "customer@shop.example.com"
    await create_user(
        hub.node.engine, tenant_id=tenant.id, email=email, password=PASSWORD, role="customer", kind="customer"
    )
    async with httpx.AsyncClient(base_url=hub.http) as client:
        token = (await client.post("/api/customers/auth/login", json={"email": email, "password": PASSWORD})).json()[
            "token"
        ]
    code, reason = await close_code(hub.ws, token=token)
    assert code == 4403 and "chat.manage" in reason


async def test_cookie_session_only_from_the_hubs_own_origin(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    token = await token_for(hub, tenant.id, "Anna")
    code, _ = await close_code(hub.ws, cookie=token, origin="https://evil.example.com")
    assert code == 4403
    assert (await close_code(hub.ws, cookie=token))[0] == 4403, "no Origin at all is not the hub's own page either"
    async with agent_socket(hub.ws, cookie=token, origin=hub.http) as agent:
        assert agent.ready["agent"]["name"] == "Anna"
        assert agent.ready["tenant"]["id"] == tenant.id


async def test_agent_sees_new_conversation_appear_live_with_presence(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    token = await token_for(hub, tenant.id, "Anna")
    async with agent_socket(hub.ws, token=token) as agent:
        assert agent.sessions == []
        async with visitor(hub.ws, tenant.id) as client:
            await client.say("Do you deliver on Sundays?")
            session_id = client.ready["session_id"]
            frames = await agent.until(lambda f: f["type"] == "session" and f["session"].get("seq") == 1)
            created = frames[-1]["session"]
            assert created["id"] == session_id
            assert created["visitor_online"] is True and created["mode"] == "ai" and created["status"] == "open"
            assert created["last_message"]["text"] == "Do you deliver on Sundays?"
            ai_patch = await agent.until(lambda f: f["type"] == "session" and f["session"].get("seq") == 2)
            assert ai_patch[-1]["session"]["last_message"]["role"] == "ai"
        gone = await agent.until(lambda f: f["type"] == "session" and "visitor_online" in f["session"])
        assert gone[-1]["session"] == {"id": session_id, "visitor_online": False}
    async with agent_socket(hub.ws, token=token) as again:
        (listed,) = again.sessions
        assert listed["id"] == session_id and listed["seq"] == 2 and listed["visitor_online"] is False
        assert listed["last_message"]["role"] == "ai" and listed["owner"] is None


async def test_watch_replays_the_transcript_then_streams_tokens_live(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    token = await token_for(hub, tenant.id, "Anna")
    async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=token) as agent:
        session_id = await first_exchange(client)
        replay = await agent.watch(session_id)
        assert replay[0]["type"] == "watching" and replay[0]["seq"] == 2
        assert [(f["session_id"], f["seq"]) for f in replay[1:]] == [(session_id, 1), (session_id, 2)]
        await client.say("What are your opening hours?")
        live = await agent.until(lambda f: f.get("session_id") == session_id and is_ai_message(f))
        tokens = [f for f in live if f.get("type") == "token"]
        assert tokens and all(f["session_id"] == session_id for f in tokens)
        assert "".join(f["text"] for f in tokens) == live[-1]["text"]
        # Watching again from a seq resumes without gaps or duplicates.
        again = await agent.watch(session_id, last_seq=3)
        assert [f["seq"] for f in again[1:]] == [4]


async def test_agent_takeover_stops_ai_stream_and_ai_stays_silent_in_human_mode(slow_hub: RunningHub) -> None:
    hub = slow_hub
    tenant = await hub.tenant()
    token = await token_for(hub, tenant.id, "Anna")
    async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=token) as agent:
        await client.say(LONG_QUESTION)
        session_id = client.ready["session_id"]
        await client.until(lambda f: f["type"] == "message" and f["role"] == "visitor")
        await agent.watch(session_id)
        await client.until(lambda f: f["type"] == "token" and f["index"] >= 2)
        answer = await agent.command({"type": "takeover", "session_id": session_id})
        assert answer["type"] == "ok", answer
        # The cut-short reply and the notice come from different places (the reply's node, the agent's): any order.
        frames = await client.until(is_system("Anna joined the chat"))
        if not any(is_ai_message(f) for f in frames):
            frames += await client.until(is_ai_message)
        cut = [f for f in frames if is_ai_message(f)]
        assert cut[0]["truncated"] is True
        streamed = [f for f in frames if f["type"] == "token" and f["message_id"] == cut[0]["id"]]
        with pytest.raises(TimeoutError):
            late = await client.until(lambda f: f["type"] == "token", timeout=0.6)
            pytest.fail(f"a token arrived after the takeover: {late}")
        assert cut[0]["text"].startswith("".join(f["text"] for f in streamed if f["index"] < 2))

        await client.say("Are you a real person now?")
        answer = await agent.command({"type": "message", "session_id": session_id, "text": "Yes, I'm Anna."})
        assert answer["type"] == "ok" and answer["seq"] > 0
        frames = await client.until(lambda f: f["type"] == "message" and f["role"] == "agent")
        assert frames[-1]["text"] == "Yes, I'm Anna." and frames[-1]["author"] == "Anna"
        assert not any(f["type"] == "token" or is_ai_message(f) for f in frames), "the AI never answers in human mode"
        assert hub.node.replies.active == 0


async def test_second_agent_is_refused_and_told_who_owns_it_unless_forced(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = await hub.tenant()
    anna, ben = await token_for(hub, tenant.id, "Anna"), await token_for(hub, tenant.id, "Ben")
    async with visitor(hub.ws, tenant.id) as client:
        session_id = await first_exchange(client)
        async with agent_socket(hub.ws, token=anna) as first, agent_socket(hub.ws, token=ben) as second:
            assert (await first.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
            refused = await second.command({"type": "takeover", "session_id": session_id})
            assert refused["code"] == "owned_by_other" and refused["owner"]["name"] == "Anna"
            assert "Anna" in refused["message"]
            not_owner = await second.command({"type": "message", "session_id": session_id, "text": "hi"})
            assert not_owner["code"] == "owned_by_other"
            assert (await second.command({"type": "handback", "session_id": session_id}))["code"] == "owned_by_other"
            with caplog.at_level(logging.WARNING, logger="hub.chat.control"):
                forced = await second.command({"type": "takeover", "session_id": session_id, "force": True})
            assert forced["type"] == "ok"
            assert any("forced the takeover" in record.getMessage() for record in caplog.records)
            patch = await first.until(
                lambda f: f["type"] == "session" and (f["session"].get("owner") or {}).get("name") == "Ben"
            )
            assert patch[-1]["session"]["mode"] == "human"
            assert (await first.command({"type": "message", "session_id": session_id, "text": "x"}))["type"] == "error"
            await client.until(is_system("Ben joined the chat"))


async def test_handback_tells_the_visitor_and_the_ai_answers_again(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    token = await token_for(hub, tenant.id, "Anna")
    async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=token) as agent:
        session_id = await first_exchange(client)
        await agent.command({"type": "takeover", "session_id": session_id})
        await client.say("still there?")
        await client.until(lambda f: f["type"] == "message" and f["role"] == "visitor")
        answer = await agent.command({"type": "handback", "session_id": session_id})
        assert answer["type"] == "ok"
        frames = await client.until(is_ai_message)
        assert any(f["type"] == "message" and f["text"] == "Anna handed the chat back to Bob" for f in frames)
        await client.say("what are your opening hours?")
        await client.ai_reply()
        async with httpx.AsyncClient(base_url=hub.http) as http:
            history = await http.get(f"/api/chat/history/{session_id}", headers={"Authorization": f"Bearer {token}"})
        assert history.json()["mode"] == "ai"


async def test_close_ends_the_session_and_a_visitor_who_writes_again_reopens_it(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    token = await token_for(hub, tenant.id, "Anna")
    async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=token) as agent:
        session_id = await first_exchange(client)
        await agent.command({"type": "takeover", "session_id": session_id})
        assert (await agent.command({"type": "close", "session_id": session_id}))["type"] == "ok"
        await client.until(is_system("Anna closed the conversation"))
        closed = await agent.seen(lambda f: f["type"] == "session" and f["session"].get("status") == "closed")
        assert closed["session"]["owner"] is None
        await client.say("one more question")
        await client.ai_reply()
        reopened = await agent.until(
            lambda f: f["type"] == "session" and f["session"].get("status") == "open" and "owner" in f["session"]
        )
        assert reopened[-1]["session"]["mode"] == "ai"


async def test_agent_who_reconnects_keeps_the_session_it_owns(settings: Settings) -> None:
    async with serve_hub(dataclasses.replace(settings, takeover_lock_ttl_s=CLAIM_TTL_S)) as hub:
        tenant = await hub.tenant()
        anna, ben = await token_for(hub, tenant.id, "Anna"), await token_for(hub, tenant.id, "Ben")
        async with visitor(hub.ws, tenant.id) as client:
            session_id = await stored_session(client)
            async with agent_socket(hub.ws, token=anna) as first:
                assert (await first.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
            async with agent_socket(hub.ws, token=anna), agent_socket(hub.ws, token=ben) as second:
                await asyncio.sleep(CLAIM_TTL_S + 1.0)  # past the claim's TTL: Anna's new connection renews it
                refused = await second.command({"type": "takeover", "session_id": session_id})
                assert refused["code"] == "owned_by_other"
            await asyncio.sleep(CLAIM_TTL_S + 1.0)  # Anna is gone for longer than the TTL: the claim lapses
            async with agent_socket(hub.ws, token=ben) as second:
                assert (await second.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"


async def test_a_claim_lost_with_redis_is_taken_again_by_the_next_renewal(settings: Settings) -> None:
    """Redis restarted without its data: the node's renewal finds Anna's claim gone while the store says the
    conversation is still hers, and claims it again. Ben is refused, as before the loss, with nothing done by Anna;
    and her taking it over again changes nothing."""
    async with serve_hub(dataclasses.replace(settings, takeover_lock_ttl_s=CLAIM_TTL_S)) as hub:
        tenant = await hub.tenant()
        anna, ben = await token_for(hub, tenant.id, "Anna"), await token_for(hub, tenant.id, "Ben")
        async with visitor(hub.ws, tenant.id) as client:
            session_id = await stored_session(client)
            async with agent_socket(hub.ws, token=anna) as first, agent_socket(hub.ws, token=ben) as second:
                assert (await first.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
                lock, holder = await drop_claim(hub, tenant.id, session_id)  # gone with Redis's data
                async with asyncio.timeout(CLAIM_TTL_S):  # a renewal (every third of the TTL) claims it again
                    while await hub.node.coord.holder(lock) != holder:
                        await asyncio.sleep(0.02)
                refused = await second.command({"type": "takeover", "session_id": session_id})
                assert refused["code"] == "owned_by_other", refused
                await asyncio.sleep(CLAIM_TTL_S + 1.0)  # past the TTL: renewed since
                assert (await second.command({"type": "takeover", "session_id": session_id}))[
                    "code"
                ] == "owned_by_other"
                assert (await first.command({"type": "handback", "session_id": session_id}))["type"] == "ok"
                await asyncio.sleep(CLAIM_TTL_S / 3 + 0.5)  # handed back: never claimed again
                assert await hub.node.coord.holder(lock) is None


async def test_a_claim_taken_again_in_the_moment_of_a_handback_elsewhere_is_let_go(settings: Settings) -> None:
    """A handback on another node lets go of the claim, then stores the change: a renewal in between finds the
    claim gone and the session still Anna's, and claims it again. The next round sees the handback and lets go."""
    async with serve_hub(dataclasses.replace(settings, takeover_lock_ttl_s=CLAIM_TTL_S)) as hub:
        tenant = await hub.tenant()
        anna = await token_for(hub, tenant.id, "Anna")
        async with visitor(hub.ws, tenant.id) as client:
            session_id = await stored_session(client)
            async with agent_socket(hub.ws, token=anna) as first:
                assert (await first.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
                lock, _ = await drop_claim(hub, tenant.id, session_id)  # the other node lets go
                async with asyncio.timeout(CLAIM_TTL_S):
                    while await hub.node.coord.holder(lock) is None:  # ... and this node claims it again
                        await asyncio.sleep(0.02)
                handed_back = SessionChange(id=session_id, mode="ai", owner=None)
                await hub.node.chat.change(tenant.id, session_id, handed_back)  # the other node's change lands
                # The next round lets go of it, well before the TTL would (which a claim left behind waits for).
                async with asyncio.timeout(CLAIM_TTL_S * 0.7):
                    while await hub.node.coord.holder(lock) is not None:
                        await asyncio.sleep(0.02)


async def test_a_claim_lost_with_redis_is_renewed_again_once_the_agent_takes_over_again(settings: Settings) -> None:
    """Anna takes the conversation over again after the loss (her Mission Control shows it as hers all along):
    one claim, renewed like any, and Ben is refused past the claim's TTL."""
    async with serve_hub(dataclasses.replace(settings, takeover_lock_ttl_s=CLAIM_TTL_S)) as hub:
        tenant = await hub.tenant()
        anna, ben = await token_for(hub, tenant.id, "Anna"), await token_for(hub, tenant.id, "Ben")
        async with visitor(hub.ws, tenant.id) as client:
            session_id = await stored_session(client)
            async with agent_socket(hub.ws, token=anna) as first, agent_socket(hub.ws, token=ben) as second:
                assert (await first.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
                await drop_claim(hub, tenant.id, session_id)  # gone with Redis's data
                await asyncio.sleep(CLAIM_TTL_S / 3 + 0.5)  # a renewal finds it gone
                assert (await first.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
                await asyncio.sleep(CLAIM_TTL_S + 1.0)  # past the TTL: renewed again since the second takeover
                refused = await second.command({"type": "takeover", "session_id": session_id})
                assert refused["code"] == "owned_by_other", refused


async def test_agent_never_sees_watches_or_writes_another_tenants_session(hub: RunningHub) -> None:
    tenant_a, tenant_b = await hub.tenant(), await hub.tenant()
    token_a = await token_for(hub, tenant_a.id, "Anna")
    async with visitor(hub.ws, tenant_b.id) as client_b, agent_socket(hub.ws, token=token_a) as agent:
        session_b = await first_exchange(client_b)
        for frame in (
            {"type": "watch", "session_id": session_b},
            {"type": "takeover", "session_id": session_b},
            {"type": "message", "session_id": session_b, "text": "hello from A"},
            {"type": "handback", "session_id": session_b},
            {"type": "close", "session_id": session_b},
        ):
            answer = await agent.command(frame)
            assert answer["type"] == "error" and answer["code"] == "unknown_session", (frame, answer)
        assert (await agent.command({"type": "typing", "session_id": session_b}))["code"] == "not_watching"
        await client_b.say("anything new?")
        await client_b.ai_reply()
        with pytest.raises(TimeoutError):
            leaked = await agent.until(lambda f: True, timeout=0.5)
            pytest.fail(f"tenant A's agent got a frame of tenant B: {leaked}")
        async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token_a}"}) as http:
            assert (await http.get(f"/api/chat/history/{session_b}")).status_code == 404
            posted = await http.post("/api/chat/message", json={"session_id": session_b, "message": "hi"})
            assert posted.status_code == 404
    async with agent_socket(hub.ws, token=token_a) as agent:
        assert agent.sessions == []
    # Not by naming the other tenant either.
    assert (await close_code(hub.ws, token=token_a, query=f"business_id={tenant_b.business_id}"))[0] == 4403


async def test_platform_admin_may_open_any_tenant(hub: RunningHub) -> None:
    platform = await create_tenant(hub.node.engine, name="Platform", business_id=PLATFORM_BUSINESS_ID)
    shop = await hub.tenant()
    admin = await token_for(hub, platform.id, "Root", role="admin")
    async with visitor(hub.ws, shop.id) as client:
        session_id = await first_exchange(client)
        async with agent_socket(hub.ws, token=admin, query=f"business_id={shop.business_id}") as agent:
            assert agent.ready["tenant"]["id"] == shop.id
            assert [s["id"] for s in agent.sessions] == [session_id]
    assert (await close_code(hub.ws, token=admin, query="business_id=no-such-shop"))[0] == 4404


async def test_bad_agent_frames_get_error_frames_and_the_socket_stays_open(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    token = await token_for(hub, tenant.id, "Anna")
    async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=token) as agent:
        session_id = await first_exchange(client)
        cases: list[tuple[str | dict[str, Any], str]] = [
            ("{not json", "invalid_json"),
            ("[1, 2]", "invalid_frame"),
            ({"type": "dance"}, "unknown_type"),
            ({"type": "watch"}, "invalid_frame"),
            ({"type": "watch", "session_id": session_id, "last_seq": -1}, "invalid_frame"),
            ({"type": "takeover", "session_id": session_id, "force": "yes"}, "invalid_frame"),
            ({"type": "message", "session_id": session_id, "text": "x" * 5000}, "text_too_long"),
            ({"type": "message", "session_id": session_id, "text": "   "}, "empty_text"),
            ({"type": "typing", "session_id": session_id}, "not_watching"),
            ({"type": "watch", "session_id": "no-such-session"}, "unknown_session"),
        ]
        for frame, code in cases:
            await agent.send(frame)
            answer = (await agent.until(lambda f: f["type"] == "error"))[-1]
            assert answer["code"] == code, (frame, answer)
        with_ref = await agent.command({"type": "dance"})
        assert with_ref["ref"].startswith("r") and with_ref["code"] == "unknown_type"
        await agent.send({"type": "ping"})
        await agent.until(lambda f: f["type"] == "pong")


async def test_visitor_sees_the_agent_typing(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    token = await token_for(hub, tenant.id, "Anna")
    async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=token) as agent:
        session_id = await first_exchange(client)
        await agent.watch(session_id)
        await agent.send({"type": "typing", "session_id": session_id, "active": True})
        typing = (await client.until(lambda f: f["type"] == "typing" and f["role"] == "agent"))[-1]
        assert typing == {"type": "typing", "role": "agent", "active": True, "author": "Anna"}
        await client.send({"type": "typing", "active": True})
        seen = await agent.until(lambda f: f["type"] == "typing" and f["role"] == "visitor")
        assert seen[-1]["session_id"] == session_id


async def test_http_agent_message_respects_the_owner(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    anna, ben = await token_for(hub, tenant.id, "Anna"), await token_for(hub, tenant.id, "Ben")
    async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=anna) as agent:
        session_id = await first_exchange(client)
        await agent.command({"type": "takeover", "session_id": session_id})
        async with httpx.AsyncClient(base_url=hub.http) as http:
            refused = await http.post(
                "/api/chat/message",
                json={"session_id": session_id, "message": "Ben here"},
                headers={"Authorization": f"Bearer {ben}"},
            )
            assert refused.status_code == 409 and refused.json()["error"]["code"] == "owned_by_other"
            sent = await http.post(
                "/api/chat/message",
                json={"session_id": session_id, "message": "Anna here"},
                headers={"Authorization": f"Bearer {anna}"},
            )
            assert sent.status_code == 200
        frames = await client.until(lambda f: f["type"] == "message" and f["role"] == "agent")
        assert frames[-1]["text"] == "Anna here"


async def test_unwatch_stops_a_sessions_frames(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    token = await token_for(hub, tenant.id, "Anna")
    async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=token) as agent:
        session_id = await first_exchange(client)
        await agent.watch(session_id)
        assert (await agent.command({"type": "unwatch", "session_id": session_id}))["type"] == "ok"
        await client.say("more")
        await client.ai_reply()
        frames = await agent.until(lambda f: f["type"] == "session" and f["session"].get("seq") == 4)
        assert not any("session_id" in f and f["type"] in ("token", "message") for f in frames)


async def test_takeover_while_redis_is_down_is_refused_clearly_and_works_once_it_is_back(
    settings: Settings, redis_prefix: str
) -> None:
    server = RedisServer()
    server.start()
    try:
        redis_settings = dataclasses.replace(
            settings, redis_url=server.url, redis_prefix=redis_prefix, secret_key="x" * 32
        )
        async with serve_hub(redis_settings) as hub:
            tenant = await hub.tenant()
            token = await token_for(hub, tenant.id, "Anna")
            async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=token) as agent:
                session_id = await first_exchange(client)
                server.stop()
                refused = await agent.command({"type": "takeover", "session_id": session_id}, timeout=10)
                assert refused["type"] == "error" and refused["code"] == "unavailable", refused
                server.start()
                for _ in range(50):
                    answer = await agent.command({"type": "takeover", "session_id": session_id}, timeout=10)
                    if answer["type"] == "ok":
                        break
                    await asyncio.sleep(0.2)
                assert answer["type"] == "ok", answer
                await client.until(is_system("Anna joined the chat"), timeout=10)
    finally:
        server.stop()
