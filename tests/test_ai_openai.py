"""The ``openai`` AI provider end to end: visitor socket -> hub -> a local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.ai.sse import SSEDecoder, SSEError
from hub.chat.announcements import AI_UNAVAILABLE
from hub.settings import Settings
from tests.conftest import RunningHub, Visitor, serve_hub, visitor
from tests.fake_openai import DEFAULT_TOKENS, Behaviour, FakeOpenAI, fake_openai

API_KEY = "sk-test-0123456789abcdef"
MODEL = "test-model-1"
TIMEOUT_S = 0.5


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with fake_openai() as server:
        yield server


@pytest.fixture
async def openai_hub(settings: Settings, fake: FakeOpenAI) -> AsyncIterator[RunningHub]:
    configured = settings.with_overrides(
        ai_provider="openai",
        openai_base_url=fake.base_url,
        openai_api_key=API_KEY,
        openai_model=MODEL,
        openai_timeout_s=TIMEOUT_S,
    )
    async with serve_hub(configured) as running:
        yield running


def tokens_of(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [frame for frame in frames if frame["type"] == "token"]


async def until_notice(client: Visitor) -> list[dict[str, Any]]:
    """Every frame up to the durable system notice that follows an AI failure."""
    return await client.until(lambda f: f["type"] == "message" and f["role"] == "system", timeout=5)


async def test_openai_reply_streams_as_token_frames_and_stored_ai_message_is_their_join(
    openai_hub: RunningHub, fake: FakeOpenAI
) -> None:
    tenant = await openai_hub.tenant()
    async with visitor(openai_hub.ws, tenant.id) as client:
        await client.say("Hello?", client_id="c-1")
        frames = await client.ai_reply()
        assert frames[0]["role"] == "visitor" and frames[0]["seq"] == 1
        tokens = tokens_of(frames)
        final = frames[-1]
        assert [token["text"] for token in tokens] == list(DEFAULT_TOKENS), "the empty role delta is no token"
        assert [token["index"] for token in tokens] == list(range(len(DEFAULT_TOKENS)))
        assert {token["message_id"] for token in tokens} == {final["id"]}
        assert final["text"] == "".join(DEFAULT_TOKENS) and final["seq"] == 2
        assert "truncated" not in final
        history = await openai_hub.node.chat.history(tenant.id, client.ready["session_id"])
        assert [(m.role, m.text) for m in history] == [("visitor", "Hello?"), ("ai", "Hello from the model.")]
        assert history[1].id == final["id"] and history[1].meta is not None
        assert history[1].meta == {
            "first_token_ms": history[1].meta["first_token_ms"],
            "replies_to": 1,
            "persona": "Bob",  # what Analytics counts its ratings under
        }, "not truncated"
    request = await fake.request(1)
    assert request.finished and not request.disconnected.is_set()
    assert request.messages[0]["role"] == "system" and "Acme Test" in request.messages[0]["content"]


async def test_openai_request_carries_model_bearer_key_system_prompt_and_history(
    openai_hub: RunningHub, fake: FakeOpenAI
) -> None:
    prompt = "You are Ada, the concierge of Acme. Be brief."
    tenant = await openai_hub.tenant(persona={"name": "Ada", "systemPrompt": prompt})
    async with visitor(openai_hub.ws, tenant.id) as client:
        await client.say("hello")
        await client.ai_reply()
        fake.behaviour = Behaviour(tokens=("We sell", " anvils."))
        await client.say("What do you sell?")
        assert (await client.ai_reply())[-1]["text"] == "We sell anvils."
    first, second = await fake.request(1), await fake.request(2)
    for request in (first, second):
        assert request.method == "POST" and request.path == "/v1/chat/completions"
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        assert request.headers["content-type"] == "application/json"
        assert request.body["model"] == MODEL and request.body["stream"] is True
    system = {"role": "system", "content": first.messages[0]["content"]}
    assert system["content"].startswith(prompt + "\n\n"), "the persona first, then facts (tests/test_ai_prompt.py)"
    assert first.messages == [system, {"role": "user", "content": "hello"}]
    assert second.messages == [
        system,
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "Hello from the model."},
        {"role": "user", "content": "What do you sell?"},
    ]


FAILURES = {
    "http_500": Behaviour(status=500),
    "http_429": Behaviour(status=429),
    "connection_dropped_before_any_token": Behaviour(drop_after=0),
    "garbage_chunk": Behaviour(garbage_after=0),
    "error_chunk_in_stream": Behaviour(error_after=0),
    "timeout_before_any_token": Behaviour(stall_after=0),
    "empty_reply": Behaviour(tokens=()),
}


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_openai_upstream_failure_sends_error_frame_and_keeps_visitor_message(
    openai_hub: RunningHub, fake: FakeOpenAI, failure: str
) -> None:
    fake.behaviour = FAILURES[failure]
    tenant = await openai_hub.tenant()
    async with visitor(openai_hub.ws, tenant.id) as client:
        started = asyncio.get_running_loop().time()
        await client.say("Are you open on Sunday?", client_id="q-1")
        frames = await until_notice(client)
        elapsed = asyncio.get_running_loop().time() - started
        assert frames[0]["type"] == "message" and frames[0]["role"] == "visitor" and frames[0]["seq"] == 1
        errors = [frame for frame in frames if frame["type"] == "error"]
        assert len(errors) == 1 and errors[0]["code"] == "ai_unavailable" and errors[0]["message"]
        assert frames.index(errors[0]) < len(frames) - 1, "the error frame comes before the durable notice"
        assert not tokens_of(frames)
        assert not [frame for frame in frames if frame["type"] == "message" and frame["role"] == "ai"]
        notice = frames[-1]
        assert notice["text"] == AI_UNAVAILABLE and notice["seq"] == 2
        history = await openai_hub.node.chat.history(tenant.id, client.ready["session_id"])
        assert [(m.role, m.text, m.client_id) for m in history] == [
            ("visitor", "Are you open on Sunday?", "q-1"),
            ("system", AI_UNAVAILABLE, None),
        ]
        assert history[1].meta == {"reason": "ai_unavailable"}
    assert len(fake.requests) == 1, "a failed reply is not retried behind the visitor's back"
    if failure.startswith("timeout"):
        assert TIMEOUT_S <= elapsed < TIMEOUT_S + 2
        await asyncio.wait_for(fake.requests[0].disconnected.wait(), 2)


PARTIAL_FAILURES = {
    "connection_dropped": Behaviour(drop_after=2),
    "garbage_chunk": Behaviour(garbage_after=2),
    "error_chunk_in_stream": Behaviour(error_after=2),
    "timeout": Behaviour(stall_after=2),
    "line_without_end": Behaviour(endless_line_after=2),  # the decoder gives up after 1 MiB
}


@pytest.mark.parametrize("failure", list(PARTIAL_FAILURES))
async def test_tokens_streamed_before_an_upstream_failure_are_kept_as_truncated_ai_message(
    openai_hub: RunningHub, fake: FakeOpenAI, failure: str
) -> None:
    fake.behaviour = PARTIAL_FAILURES[failure]
    tenant = await openai_hub.tenant()
    async with visitor(openai_hub.ws, tenant.id) as client:
        await client.say("Tell me about Acme")
        frames = await until_notice(client)
        tokens = tokens_of(frames)
        assert [token["text"] for token in tokens] == ["Hello", " from"]
        partial = next(frame for frame in frames if frame["type"] == "message" and frame["role"] == "ai")
        assert partial["text"] == "Hello from" and partial["truncated"] is True and partial["seq"] == 2
        assert {token["message_id"] for token in tokens} == {partial["id"]}
        kinds = [frame["type"] if frame["type"] != "message" else frame["role"] for frame in frames]
        assert kinds.index("ai") < kinds.index("error") < kinds.index("system")
        history = await openai_hub.node.chat.history(tenant.id, client.ready["session_id"])
        assert [(m.role, m.text) for m in history] == [
            ("visitor", "Tell me about Acme"),
            ("ai", "Hello from"),
            ("system", AI_UNAVAILABLE),
        ]
        assert history[1].meta == {"truncated": True, "replies_to": 1, "persona": "Bob"}


async def test_cancelling_the_reply_closes_the_upstream_connection_and_keeps_what_was_streamed(
    openai_hub: RunningHub, fake: FakeOpenAI
) -> None:
    many = tuple(f" word{number}" for number in range(100))
    fake.behaviour = Behaviour(tokens=many, delay_s=0.05)
    tenant = await openai_hub.tenant()
    async with visitor(openai_hub.ws, tenant.id) as client:
        session_id = client.ready["session_id"]
        await client.say("Write me a long poem")
        before = await client.until(lambda f: f["type"] == "token" and f["index"] == 1)
        request = await fake.request(1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert openai_hub.node.replies.cancel(tenant.id, session_id)
        await asyncio.wait_for(request.disconnected.wait(), 1.0)
        assert loop.time() - started < 0.5, "the upstream request must be aborted at once"
        assert not request.finished and request.tokens_sent < len(many)
        rest = await client.ai_reply()
        stored = rest[-1]
        assert stored["truncated"] is True
        seen = [token["text"] for token in tokens_of(before + rest)]
        assert seen[:2] == [" word0", " word1"] and stored["text"] == "".join(seen)
        await client.send({"type": "ping"})
        assert await client.recv() == {"type": "pong"}, "a cancelled reply sends no error frame"
        history = await openai_hub.node.chat.history(tenant.id, session_id)
        assert [m.role for m in history] == ["visitor", "ai"]
    sent = request.tokens_sent
    assert sent <= len(seen) + 1, "at most one token was in flight when the reply was cancelled"
    await asyncio.sleep(0.15)
    assert request.tokens_sent == sent
    assert openai_hub.node.replies.active == 0


async def test_failure_notice_is_not_replayed_to_the_model_and_the_next_message_is_answered(
    openai_hub: RunningHub, fake: FakeOpenAI
) -> None:
    tenant = await openai_hub.tenant()
    fake.behaviour = Behaviour(status=500)
    async with visitor(openai_hub.ws, tenant.id) as client:
        await client.say("first question")
        await until_notice(client)
        fake.behaviour = Behaviour(tokens=("Back", " again."))
        await client.say("second question")
        assert (await client.ai_reply())[-1]["text"] == "Back again."
    retry = await fake.request(2)
    # Strict chat templates (Mistral, Gemma, ...) refuse a system message after the first one.
    assert [message["role"] for message in retry.messages] == ["system", "user", "user"]
    assert [message["content"] for message in retry.messages[1:]] == ["first question", "second question"]


def test_sse_decoder_follows_the_spec_for_what_chat_streams_send() -> None:
    decoder = SSEDecoder()
    lines = [b": keepalive\n", b"event: message\r\n", b'data: {"a":\n', b"data:1}\n", b"id: 7\n", b"\r\n", b"\n"]
    assert [decoder.line(line) for line in lines] == [None, None, None, None, None, '{"a":\n1}', None]
    assert decoder.line(b"data: [DONE]\n") is None
    assert decoder.line(b"\n") == "[DONE]"


def test_sse_decoder_gives_the_same_events_however_the_bytes_are_split() -> None:
    stream = 'data: {"a":"héllo"}\r\n\r\n: ping\n\ndata: one\ndata: two\n\ndata: [DONE]\n\n'.encode()
    whole = SSEDecoder().feed(stream)
    assert whole == ['{"a":"héllo"}', "one\ntwo", "[DONE]"]
    decoder = SSEDecoder()
    byte_by_byte = [event for index in range(len(stream)) for event in decoder.feed(stream[index : index + 1])]
    assert byte_by_byte == whole


def test_sse_decoder_refuses_a_line_that_never_ends() -> None:
    decoder = SSEDecoder(max_line_bytes=64)
    assert decoder.feed(b"data: " + b"x" * 50) == []
    with pytest.raises(SSEError):
        decoder.feed(b"x" * 50)


async def test_a_message_that_comes_while_a_cancelled_reply_is_still_finishing_is_answered(
    openai_hub: RunningHub, fake: FakeOpenAI
) -> None:
    """A takeover or a close cancels the reply; the visitor's next line, asked for before that task is gone, is
    answered by a new one (handed to the dying task, it was never looked at again)."""
    fake.behaviour = Behaviour(tokens=tuple(f" word{number}" for number in range(100)), delay_s=0.05)
    tenant = await openai_hub.tenant()
    replies = openai_hub.node.replies
    async with visitor(openai_hub.ws, tenant.id) as client:
        session_id = client.ready["session_id"]
        await client.say("Write me a long poem")
        await client.until(lambda f: f["type"] == "token" and f["index"] == 1)
        await openai_hub.node.writer.append(tenant.id, session_id, "visitor", "Or just a haiku?")
        fake.behaviour = Behaviour(tokens=("Autumn", " moon."))
        assert replies.cancel(tenant.id, session_id)
        replies.request(tenant, session_id)  # in the same moment: the cancelled task has not finished yet
        truncated = (await client.ai_reply())[-1]
        assert truncated["truncated"] is True
        answer = (await client.ai_reply())[-1]
        assert answer["text"] == "Autumn moon." and not answer.get("truncated")
    history = await openai_hub.node.chat.history(tenant.id, session_id)
    assert [m.role for m in history] == ["visitor", "visitor", "ai", "ai"]
