"""One chat turn over plain HTTP: store the visitor's message, wait for the AI's reply.

Legacy clients get the reply as JSON, or as Server-Sent Events when they ask for
``text/event-stream``; both read the same frames the WebSockets get, from the session's channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import orjson

from hub.chat.availability import availability_frame
from hub.node import Services
from hub.protocol import message_frame
from hub.store.contacts import visitor_contact
from hub.store.models import Tenant
from hub.store.transcript import get_session, recent_messages
from hub.tenant_settings import settings_of

TURN_TIMEOUT_S = 120.0


class _TurnListener:
    """A fan-out listener for the length of one request (frames are parsed: this is not the hot path)."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def deliver(self, seq: int, frame: str) -> None:
        self.frames.put_nowait(orjson.loads(frame))

    def resync(self) -> None:
        return None


class Turn:
    """A started turn: the visitor's message is stored (errors surface before any response starts)."""

    def __init__(
        self,
        services: Services,
        tenant_id: str,
        session_id: str,
        listener: _TurnListener,
        own: dict[str, Any],
        ai_answers: bool,
    ) -> None:
        self.services = services
        self.tenant_id = tenant_id
        self.session_id = session_id
        self.listener = listener
        self.own = own
        self.ai_answers = ai_answers
        self.closed = False

    async def frames(self) -> AsyncIterator[dict[str, Any]]:
        """The visitor's message, AI tokens, then the AI message (or its failure notice); then it closes."""
        try:
            yield self.own
            if not self.ai_answers:
                return
            loop = asyncio.get_running_loop()
            deadline = loop.time() + TURN_TIMEOUT_S
            while True:
                async with asyncio.timeout_at(deadline):
                    frame = await self.listener.frames.get()
                kind = frame.get("type")
                if kind in ("token", "error"):
                    yield frame
                elif kind == "message" and frame["seq"] > self.own["seq"]:
                    if frame["role"] == "ai" and frame.get("replies_to", frame["seq"]) < self.own["seq"]:
                        continue  # the answer to an earlier message of the session (a concurrent turn's)
                    yield frame
                    if (frame["role"] == "ai" and not frame.get("truncated")) or frame["role"] == "system":
                        return
        finally:
            await self.close()

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.services.joiner.leave(self.listener, self.tenant_id, self.session_id)


async def start_turn(services: Services, tenant: Tenant, session_id: str, text: str, *, handoff: bool = False) -> Turn:
    """``handoff``: the visitor also asks for a person (recorded before the message, so it waits for one)."""
    listener = _TurnListener()
    # Listen first, so no frame of the reply can slip by between storing and listening.
    await services.joiner.listen(listener, tenant.id, session_id)
    try:
        if handoff:
            await services.conversations.ask_for_person(tenant, session_id)
        result = await services.conversations.visitor_message(tenant, session_id, text)
        state = await get_session(services.engine, tenant.id, session_id)
    except BaseException:
        await services.joiner.leave(listener, tenant.id, session_id)
        raise
    own = msgspec.to_builtins(message_frame(result.message))
    quiet = state is not None and state.waiting is not None and not settings_of(tenant).ai_while_waiting
    ai_answers = result.mode == "ai" and services.conversations.ai_answers and not quiet
    return Turn(services, tenant.id, session_id, listener, own, ai_answers)


async def turn_summary(
    services: Services,
    tenant: Tenant,
    session_id: str,
    client_session_id: str,
    frames: list[dict[str, Any]],
    visitor: tuple[str | None, str | None] = (None, None),
) -> dict[str, Any]:
    """The JSON answer: the reply plus agent and system messages the caller has not seen yet, and while the
    visitor waits for a person, who is there (``visitor``: their language and IANA time zone)."""
    reply = next((f for f in reversed(frames) if f.get("type") == "message" and f["role"] == "ai"), None)
    own_seq = next((f["seq"] for f in frames if f.get("type") == "message" and f["role"] == "visitor"), 0)
    history = await recent_messages(services.engine, tenant.id, session_id, 50)
    # The caller's previous turn showed it everything up to where that turn ended: its own message, then
    # the AI's answer or failure notice. Agent and system lines after that are news.
    previous_own = max((m.seq for m in history if m.role == "visitor" and m.seq < own_seq), default=0)
    ended_turns = (m.seq for m in history if m.seq < own_seq and (m.role == "ai" or _is_ai_failure(m.meta)))
    seen_until = max(previous_own, max(ended_turns, default=0))
    unseen = [
        msgspec.to_builtins(message_frame(m)) for m in history if m.role in ("agent", "system") and m.seq > seen_until
    ]
    state = await get_session(services.engine, tenant.id, session_id)
    waiting = state is not None and state.waiting is not None
    summary = {
        "session_id": client_session_id,
        "reply": reply["text"] if reply else None,
        "seq": max([own_seq, *(f["seq"] for f in frames if f.get("type") == "message")]),
        "mode": state.mode if state else "ai",
        "waiting": waiting,
        "messages": unseen,
    }
    if waiting:
        status = await services.availability.status(tenant)
        contact = await visitor_contact(services.engine, tenant.id, session_id) if status.email_offered else None
        frame = availability_frame(status, tenant, *visitor, contact.email if contact else None)
        summary["availability"] = msgspec.to_builtins(frame)
    return summary


def _is_ai_failure(meta: dict[str, Any] | None) -> bool:
    return meta is not None and meta.get("reason") == "ai_unavailable"


def sse_event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def sse_turn(
    services: Services,
    tenant: Tenant,
    turn: Turn,
    session_id: str,
    client_session_id: str,
    extra: dict[str, Any],
    visitor: tuple[str | None, str | None] = (None, None),
) -> AsyncIterator[bytes]:
    frames: list[dict[str, Any]] = []
    try:
        async for frame in turn.frames():
            frames.append(frame)
            yield sse_event(frame["type"], frame)
    except TimeoutError:
        yield sse_event("error", {"type": "error", "code": "timeout", "message": "no reply in time"})
    summary = await turn_summary(services, tenant, session_id, client_session_id, frames, visitor)
    yield sse_event("done", {**summary, **extra})
