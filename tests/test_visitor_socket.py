"""The visitor WebSocket on one node (embedded default: SQLite, in-process broker, built-in AI)."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from hub.settings import Settings
from hub.ws.visitor import VisitorConnection
from tests.conftest import RunningHub, is_ai_message, serve_hub, visitor


async def test_visitor_gets_ready_then_streamed_reply_whose_tokens_join_to_the_message(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client:
        assert client.ready["session_id"].startswith("s_")
        assert client.ready["resume_token"]
        assert client.ready["seq"] == 0
        await client.say("Hello! Who are you?", client_id="c-1")
        frames = await client.ai_reply()
        own = frames[0]
        assert own["type"] == "message" and own["role"] == "visitor" and own["seq"] == 1
        assert own["text"] == "Hello! Who are you?" and own["client_id"] == "c-1"
        tokens = [frame for frame in frames if frame["type"] == "token"]
        final = frames[-1]
        assert len(tokens) > 3, "the reply must stream word by word"
        assert [token["index"] for token in tokens] == list(range(len(tokens)))
        assert {token["message_id"] for token in tokens} == {final["id"]}
        assert "".join(token["text"] for token in tokens) == final["text"]
        assert final["seq"] == 2
        assert "Acme Test" in final["text"]


async def test_builtin_responder_offers_a_human_when_it_has_no_answer(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client:
        await client.say("Can my llama ride the elevator on Tuesdays?")
        final = (await client.ai_reply())[-1]
        assert "not sure" in final["text"] and "human" in final["text"]


async def test_builtin_responder_uses_the_tenants_own_greeting_and_faq(hub: RunningHub) -> None:
    tenant = await hub.tenant(
        persona={"name": "Ada", "greeting": "Welcome to Acme, I'm Ada!"},
        faq=[{"question": "opening hours", "answer": "We are open 9 to 5, Monday to Friday."}],
    )
    async with visitor(hub.ws, tenant.id) as client:
        await client.say("hello")
        assert (await client.ai_reply())[-1]["text"] == "Welcome to Acme, I'm Ada!"
        await client.say("What are your opening hours?")
        assert (await client.ai_reply())[-1]["text"] == "We are open 9 to 5, Monday to Friday."


async def test_retry_with_same_client_id_is_stored_once(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client:
        await client.say("hi there", client_id="same")
        await client.ai_reply()
        await client.say("hi there", client_id="same")
        echo = await client.recv()
        assert echo["type"] == "message" and echo["seq"] == 1 and echo["client_id"] == "same"
        await client.send({"type": "ping"})
        assert (await client.recv())["type"] == "pong", "no second AI reply may follow a duplicate"
        history = await hub.node.chat.history(tenant.id, client.ready["session_id"])
        assert [message.role for message in history] == ["visitor", "ai"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"no_type": 1}', "invalid_frame"),
        ('{"type": "message", "text": 42}', "invalid_frame"),
        ('{"type": "message", "text": "   "}', "empty_text"),
        ('{"type": "message", "text": "x", "client_id": 7}', "invalid_frame"),
        ('{"type": "resume", "session_id": "s_abcdefgh", "resume_token": "nope", "last_seq": 0}', "bad_resume_token"),
        ('{"type": "resume", "session_id": "s_abcdefgh", "resume_token": "x", "last_seq": -1}', "invalid_frame"),
        ('{"type": "typing", "active": "yes"}', "invalid_frame"),
        ('{"type": "message", "text": "a\\u0000b"}', "invalid_frame"),
    ],
)
async def test_bad_frame_gets_error_frame_and_session_stays_open(hub: RunningHub, frame: str, code: str) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client:
        await client.send(frame)
        error = await client.recv()
        assert error["type"] == "error" and error["code"] == code and error["message"]
        await client.say("still here?")
        frames = await client.ai_reply()
        assert frames[0]["role"] == "visitor"


async def test_text_longer_than_the_limit_is_refused_with_error_frame(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client:
        await client.say("x" * (hub.node.settings.max_message_chars + 1))
        error = await client.recv()
        assert error["code"] == "text_too_long"
        await client.send({"type": "ping"})
        assert (await client.recv())["type"] == "pong"


async def test_binary_frame_gets_error_frame(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client:
        await client.connection.send(b"\x00\x01")
        assert (await client.recv())["code"] == "binary_not_supported"


async def test_frame_over_64_kib_closes_with_1009(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client:
        await client.send('{"type":"message","text":"' + "y" * 70_000 + '"}')
        with pytest.raises(ConnectionClosed) as closed:
            await client.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_unknown_tenant_is_closed_with_4404(hub: RunningHub) -> None:
    for tenant_id in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        async with visitor(hub.ws, tenant_id, expect_ready=False) as client:
            with pytest.raises(ConnectionClosed) as closed:
                await client.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404


async def test_origin_must_be_allowed_for_the_tenant(hub: RunningHub) -> None:
    tenant = await hub.tenant(origins=("https://shop.example.com",))
    async with visitor(hub.ws, tenant.id, origin="https://evil.example.net", expect_ready=False) as client:
        with pytest.raises(ConnectionClosed) as closed:
            await client.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    async with visitor(hub.ws, tenant.id, origin="https://shop.example.com") as client:
        assert client.ready["type"] == "ready"
    async with visitor(hub.ws, tenant.id, origin=f"http://127.0.0.1:{hub.port}") as client:
        assert client.ready["type"] == "ready", "same origin is always allowed"


async def test_resume_replays_only_what_came_after_last_seq(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client:
        await client.say("hello")
        await client.ai_reply()
        await client.say("who are you?")
        await client.ai_reply()
        session_id, token = client.ready["session_id"], client.ready["resume_token"]
    async with visitor(hub.ws, tenant.id) as again:
        await again.send({"type": "resume", "session_id": session_id, "resume_token": token, "last_seq": 2})
        ready = await again.recv()
        assert ready["type"] == "ready" and ready["session_id"] == session_id and ready["seq"] == 4
        replay = [await again.recv(), await again.recv()]
        assert [frame["seq"] for frame in replay] == [3, 4]
        await again.say("thanks")
        frames = await again.ai_reply()
        assert frames[0]["seq"] == 5 and frames[-1]["seq"] == 6


async def test_resume_in_query_string_creates_no_empty_session(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client:
        await client.say("hello")
        await client.ai_reply()
        session_id, token = client.ready["session_id"], client.ready["resume_token"]
    query = f"session_id={session_id}&resume_token={token}&last_seq=1"
    async with visitor(hub.ws, tenant.id, query=query) as again:
        assert again.ready["session_id"] == session_id
        assert (await again.recv())["seq"] == 2
    async with hub.node.engine.connect() as connection:
        from sqlalchemy import func, select

        from hub.store.tables import chat_sessions

        count = await connection.scalar(
            select(func.count()).select_from(chat_sessions).where(chat_sessions.c.tenant_id == tenant.id)
        )
    assert count == 1


async def test_resume_with_wrong_token_in_query_is_refused(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    other = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client:
        await client.say("hello")
        await client.ai_reply()
        session_id, token = client.ready["session_id"], client.ready["resume_token"]
    # A valid token of one tenant never opens the session through another tenant.
    async with visitor(
        hub.ws, other.id, query=f"session_id={session_id}&resume_token={token}", expect_ready=False
    ) as c:
        with pytest.raises(ConnectionClosed) as closed:
            await c.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


async def test_two_sockets_on_one_session_both_see_every_event(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as first:
        query = f"session_id={first.ready['session_id']}&resume_token={first.ready['resume_token']}&last_seq=0"
        async with visitor(hub.ws, tenant.id, query=query) as second:
            await first.say("hello from tab one")
            seen_first = await first.ai_reply()
            seen_second = await second.ai_reply()
            assert seen_first == seen_second
            await second.send({"type": "typing", "active": True})
            typing = await first.recv()
            assert typing == {"type": "typing", "role": "visitor", "active": True}


async def test_resume_mid_stream_gets_the_reply_so_far_then_the_rest(settings) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import serve_hub

    async with serve_hub(settings.with_overrides(ai_token_delay_ms=30)) as slow_hub:
        tenant = await slow_hub.tenant()
        async with visitor(slow_hub.ws, tenant.id) as client:
            await client.say("who are you?")
            frames = await client.until(lambda f: f["type"] == "token" and f["index"] == 4)
            session_id, token = client.ready["session_id"], client.ready["resume_token"]
            last_seq = max(frame.get("seq", 0) for frame in frames)
        query = f"session_id={session_id}&resume_token={token}&last_seq={last_seq}"
        async with visitor(slow_hub.ws, tenant.id, query=query) as again:
            frames = await again.ai_reply()
            tokens = [frame for frame in frames if frame["type"] == "token"]
            indexes = [token["index"] for token in tokens]
            assert indexes == list(range(len(indexes))), "no token lost or repeated across the resume"
            assert indexes[4] == 4
            assert "".join(token["text"] for token in tokens) == frames[-1]["text"]


async def test_ping_gets_pong(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client:
        await client.send({"type": "ping"})
        assert await client.recv() == {"type": "pong"}


async def test_disabled_websocket_compression_is_not_negotiated(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    url = f"{hub.ws}/ws/visitor/{tenant.id}"
    async with websockets.connect(url) as connection:
        assert connection.response is not None
        assert "Sec-WebSocket-Extensions" not in connection.response.headers
        await asyncio.wait_for(connection.recv(), 5)


async def test_ai_reply_does_not_block_other_sessions(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as one, visitor(hub.ws, tenant.id) as two:
        assert one.ready["session_id"] != two.ready["session_id"]
        await one.say("hello")
        await two.say("who are you?")
        reply_one = (await one.ai_reply())[-1]
        reply_two = (await two.ai_reply())[-1]
        assert reply_one["text"] != reply_two["text"]
        assert not any(is_ai_message(f) for f in [reply_one] if f["id"] == reply_two["id"])


async def test_last_seq_beyond_the_session_is_capped_so_no_message_is_hidden(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client:
        await client.say("hello")
        await client.ai_reply()
        session_id, token = client.ready["session_id"], client.ready["resume_token"]
    async with visitor(hub.ws, tenant.id, query=f"session_id={session_id}&resume_token={token}&last_seq=99") as again:
        assert again.ready["seq"] == 2
        await again.say("thanks")
        frames = await again.ai_reply()
        assert [frame["seq"] for frame in frames if frame["type"] == "message"] == [3, 4]


async def test_resume_frame_while_the_session_is_busy_sends_each_message_once_in_order(settings: Settings) -> None:
    async with serve_hub(settings.with_overrides(ai_provider="none")) as quiet_hub:
        tenant = await quiet_hub.tenant()
        async with visitor(quiet_hub.ws, tenant.id) as talker:
            await talker.say("hello")
            await talker.until(lambda f: f.get("seq") == 1)
            resume = {
                "type": "resume",
                "session_id": talker.ready["session_id"],
                "resume_token": talker.ready["resume_token"],
                "last_seq": 1,
            }
            async with visitor(quiet_hub.ws, tenant.id) as second:
                # The other tab keeps talking while this one switches to the session.
                chatter = asyncio.gather(*(talker.say(f"thanks {n}") for n in range(20)))
                await second.send(resume)
                await chatter
                ready = await second.until(lambda f: f["type"] == "ready")
                assert ready[-1]["session_id"] == talker.ready["session_id"]
                frames = await second.until(lambda f: f["type"] == "message" and f["seq"] >= 21, timeout=10)
                seqs = [frame["seq"] for frame in frames if frame["type"] == "message"]
                assert seqs == list(range(2, 22)), "every message after last_seq exactly once, in order"


async def test_database_failure_gives_not_stored_error_and_retry_stores_once(hub: RunningHub) -> None:
    from sqlalchemy import text

    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client:
        await client.say("hello")
        await client.ai_reply()
        async with hub.node.engine.begin() as connection:
            await connection.execute(text("ALTER TABLE messages RENAME TO messages_away"))
        try:
            await client.say("are you there?", client_id="retry-me")
            error = await client.recv()
            assert error["type"] == "error" and error["code"] == "not_stored"
        finally:
            async with hub.node.engine.begin() as connection:
                await connection.execute(text("ALTER TABLE messages_away RENAME TO messages"))
        await client.say("are you there?", client_id="retry-me")
        frames = await client.ai_reply()
        assert frames[0]["seq"] == 3 and frames[0]["client_id"] == "retry-me"


async def test_idle_socket_parks_its_sender_and_the_next_frame_wakes_it(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as first:
        await first.say("hello")
        await first.ai_reply()
        session_id = first.ready["session_id"]
        query = f"session_id={session_id}&resume_token={first.ready['resume_token']}&last_seq=2"
        async with visitor(hub.ws, tenant.id, query=query) as second:
            await asyncio.sleep(0.2)
            sockets = [c for c in hub.node.sockets if isinstance(c, VisitorConnection) and c.session_id == session_id]
            assert len(sockets) == 2
            for _ in range(2):  # a sweep parks a sender when nothing was delivered since the one before
                for connection in sockets:
                    connection.sweep()
            assert all(connection.sender is None for connection in sockets), "idle sockets hold no sender task"
            await second.say("are you still there?")
            on_first = await first.ai_reply()
            on_second = await second.ai_reply()
            assert on_first == on_second
            assert on_first[0]["type"] == "message" and on_first[0]["text"] == "are you still there?"
            assert all(connection.sender is not None for connection in sockets)
            await first.send({"type": "ping"})
            assert (await first.until(lambda f: f["type"] == "pong"))[-1] == {"type": "pong"}
