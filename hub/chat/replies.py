"""AI replies: one task per session on the node that got the visitor's message.

Tokens are published as they come (not durable) and appended to a shared buffer so a socket that
resumes on any node gets the reply so far; the whole reply is then stored as one ``ai`` message
with the id its tokens announced. Cancelling the task aborts the provider at its source.

While a node runs replies for a tenant it listens on the tenant's control channel, so an agent's
takeover on any node cancels the reply where it is generated.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

from hub.ai.base import AIError, AIProvider, ChatTurn, ReplyRequest
from hub.broker.base import Broker
from hub.chat.metering import TenantMeter
from hub.chat.service import ChatService
from hub.keys import Keys
from hub.store.models import Tenant

if TYPE_CHECKING:
    from hub.pricing import LivePricebook
from hub.store.sessions import set_control
from hub.store.transcript import get_session, reply_context

logger = logging.getLogger(__name__)

# Refreshed by every token: a reply whose node died mid-stream is forgotten half a minute later.
STREAM_BUFFER_TTL_S = 30
HISTORY_TURNS = 30
CREDITS_EXHAUSTED = (
    "Our AI assistant is not available right now, so a person from the team will answer you here. Please stay with us."
)
AI_UNAVAILABLE = (
    'Sorry, I can\'t answer right now. Please try again in a moment, or say "human" and a person from the team '
    "will take over."
)


@dataclass
class _Running:
    task: asyncio.Task[None]
    again: bool = False


CANCEL_REPLY = "cancel_reply"


def cancel_frame(session_id: str) -> bytes:
    return orjson.dumps({"type": CANCEL_REPLY, "session_id": session_id})


class _ControlListener:
    """Hears a tenant's control channel for as long as this node streams replies of that tenant."""

    def __init__(self, runner: ReplyRunner, tenant_id: str) -> None:
        self.runner = runner
        self.tenant_id = tenant_id
        self.replies = 0

    def deliver(self, seq: int, frame: str) -> None:
        try:
            body = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return
        if isinstance(body, dict) and body.get("type") == CANCEL_REPLY and isinstance(body.get("session_id"), str):
            self.runner.cancel(self.tenant_id, body["session_id"])

    def resync(self) -> None:
        # A cancel may have been lost while Redis was away: ask the store who is still in AI mode.
        self.runner.recheck(self.tenant_id)


class ReplyRunner:
    def __init__(self, chat: ChatService, ai: AIProvider, broker: Broker, keys: Keys) -> None:
        self.chat = chat
        self.ai = ai
        self.broker = broker
        self.keys = keys
        self._running: dict[tuple[str, str], _Running] = {}
        self._control: dict[str, _ControlListener] = {}
        self._checks: set[asyncio.Task[None]] = set()
        self.pricebook: LivePricebook | None = None  # set by the node: answers quote the live numbers
        self.meter = TenantMeter(chat.engine)
        chat.replies = self

    @property
    def active(self) -> int:
        return len(self._running)

    def request(self, tenant: Tenant, session_id: str) -> None:
        """Answer the session's latest visitor message; if a reply is streaming, answer again after it."""
        key = (tenant.id, session_id)
        running = self._running.get(key)
        if running is not None:
            running.again = True
            return
        task = asyncio.create_task(self._run(tenant, session_id), name=f"ai-reply:{session_id}")
        self._running[key] = _Running(task)

    def cancel(self, tenant_id: str, session_id: str) -> bool:
        running = self._running.get((tenant_id, session_id))
        if running is None:
            return False
        running.again = False
        running.task.cancel()
        return True

    def recheck(self, tenant_id: str) -> None:
        for key in [key for key in self._running if key[0] == tenant_id]:
            task = asyncio.create_task(self._cancel_unless_ai(*key))
            self._checks.add(task)
            task.add_done_callback(self._checks.discard)

    async def _cancel_unless_ai(self, tenant_id: str, session_id: str) -> None:
        try:
            state = await get_session(self.chat.engine, tenant_id, session_id)
        except Exception:
            logger.exception("checking the mode of session %s failed", session_id)
            return
        if state is None or state.mode != "ai":
            self.cancel(tenant_id, session_id)

    async def _listen_control(self, tenant_id: str) -> None:
        listener = self._control.get(tenant_id)
        if listener is None:
            listener = self._control[tenant_id] = _ControlListener(self, tenant_id)
            await self.chat.fanout.join(self.keys.control_channel(tenant_id), listener)
        listener.replies += 1

    async def _unlisten_control(self, tenant_id: str) -> None:
        listener = self._control.get(tenant_id)
        if listener is None:
            return
        listener.replies -= 1
        if listener.replies <= 0:
            del self._control[tenant_id]
            await self.chat.fanout.leave(self.keys.control_channel(tenant_id), listener)

    async def stop(self) -> None:
        tasks = [running.task for running in self._running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, tenant: Tenant, session_id: str) -> None:
        key = (tenant.id, session_id)
        try:
            # Listening before the mode is read: a takeover committed after that read is heard as a cancel.
            await self._listen_control(tenant.id)
            while True:
                self._running[key].again = False
                await self._reply_once(tenant, session_id)
                if not self._running[key].again:
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            # The task boundary: a bug here must be loud, never a silent dead session.
            logger.exception("AI reply for session %s failed", session_id)
        finally:
            self._running.pop(key, None)
            await self._unlisten_control(tenant.id)

    async def _reply_once(self, tenant: Tenant, session_id: str) -> None:
        mode, history = await reply_context(self.chat.engine, tenant.id, session_id, HISTORY_TURNS)
        if mode != "ai":
            return  # an agent took over after the visitor wrote
        said = [message for message in history if message.role != "system"]  # notices answer nothing
        if not said or said[-1].role != "visitor":
            return  # someone already answered (an agent, or a reply that raced this one)
        pricebook = self.pricebook.current if self.pricebook is not None else None
        plan = pricebook.plan(tenant.plan) if pricebook is not None else None
        if plan is not None and await self.meter.credits_used(tenant.id) >= plan.ai_credits_month:
            await self._credits_exhausted(tenant, session_id, plan.ai_credits_month)
            return
        turns = tuple(ChatTurn(m.role, m.text) for m in history)
        request = ReplyRequest(tenant, turns, pricebook=pricebook, persona=await self.meter.persona(tenant.id))
        message_id = str(uuid.uuid4())
        buffer = self.keys.stream_buffer(tenant.id, session_id)
        self.chat.publish(tenant.id, session_id, 0, b'{"type":"typing","role":"ai","active":true}')
        self.broker.buffer_clear(buffer)
        self.broker.buffer_append(buffer, message_id.encode(), STREAM_BUFFER_TTL_S)
        parts: list[str] = []
        asked_at = said[-1].created_at
        timing: dict[str, int] = {}  # first_token_ms, from the visitor's message: for analytics
        try:
            async for delta in self.ai.stream(request):
                if not parts:
                    timing["first_token_ms"] = int((datetime.now(UTC) - asked_at).total_seconds() * 1000)
                self.chat.publish(
                    tenant.id,
                    session_id,
                    0,
                    orjson.dumps({"type": "token", "message_id": message_id, "index": len(parts), "text": delta}),
                )
                self.broker.buffer_append(buffer, delta.encode(), STREAM_BUFFER_TTL_S)
                parts.append(delta)
            if not parts:
                raise AIError("the provider returned an empty reply")
        except asyncio.CancelledError:
            # Taken over mid-stream: what the visitor already saw stays, marked as cut short.
            if parts:
                meta = {"truncated": True, **timing}
                await self.chat.post(tenant.id, session_id, "ai", "".join(parts), meta=meta, message_id=message_id)
                self.meter.spend(tenant.id)
            self.broker.buffer_clear(buffer)
            raise
        except AIError as exc:
            logger.warning("AI provider failed for session %s: %s", session_id, exc)
            if parts:
                await self.chat.post(
                    tenant.id, session_id, "ai", "".join(parts), meta={"truncated": True}, message_id=message_id
                )
            self.broker.buffer_clear(buffer)
            self.chat.publish(
                tenant.id,
                session_id,
                0,
                orjson.dumps({"type": "error", "code": "ai_unavailable", "message": "The AI could not answer."}),
            )
            await self.chat.post(tenant.id, session_id, "system", AI_UNAVAILABLE, meta={"reason": "ai_unavailable"})
            return
        await self.chat.post(tenant.id, session_id, "ai", "".join(parts), meta=timing or None, message_id=message_id)
        self.broker.buffer_clear(buffer)
        self.meter.spend(tenant.id)

    async def _credits_exhausted(self, tenant: Tenant, session_id: str, included: int) -> None:
        """No silent failure: the visitor is told, the conversation goes to people, agents are alerted."""
        logger.warning(
            "tenant %s used all %d AI credits of this month; conversations go to people", tenant.id, included
        )
        await set_control(self.chat.engine, tenant.id, session_id, mode="human")
        self.chat.announce(tenant.id, {"id": session_id, "mode": "human"})
        notice = {
            "type": "notice",
            "code": "credits_exhausted",
            "session_id": session_id,
            "message": f"All {included:,} AI credits of this month are used: Bob stopped answering; please reply.",
        }
        self.chat.fanout.publish(self.keys.tenant_channel(tenant.id), 0, orjson.dumps(notice))
        self.chat.event(tenant.id, "credits.exhausted", {"session_id": session_id, "ai_credits_included": included})
        await self.chat.post(tenant.id, session_id, "system", CREDITS_EXHAUSTED, meta={"reason": "credits_exhausted"})
