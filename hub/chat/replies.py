"""AI replies: one task per session on the node that got the visitor's message.

Tokens are published as they come (not durable) and appended to a shared buffer so a socket that
resumes on any node gets the reply so far; the whole reply is then stored as one ``ai`` message
with the id its tokens announced. Cancelling the task aborts the provider at its source.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

import orjson

from hub.ai.base import AIError, AIProvider, ChatTurn, ReplyRequest
from hub.broker.base import Broker
from hub.chat.service import ChatService
from hub.keys import Keys
from hub.store.models import Tenant
from hub.store.transcript import recent_messages

logger = logging.getLogger(__name__)

# Refreshed by every token: a reply whose node died mid-stream is forgotten half a minute later.
STREAM_BUFFER_TTL_S = 30
HISTORY_TURNS = 30
AI_UNAVAILABLE = (
    'Sorry, I can\'t answer right now. Please try again in a moment, or say "human" and a person from the team '
    "will take over."
)


@dataclass
class _Running:
    task: asyncio.Task[None]
    again: bool = False


class ReplyRunner:
    def __init__(self, chat: ChatService, ai: AIProvider, broker: Broker, keys: Keys) -> None:
        self.chat = chat
        self.ai = ai
        self.broker = broker
        self.keys = keys
        self._running: dict[tuple[str, str], _Running] = {}
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

    async def stop(self) -> None:
        tasks = [running.task for running in self._running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, tenant: Tenant, session_id: str) -> None:
        key = (tenant.id, session_id)
        try:
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

    async def _reply_once(self, tenant: Tenant, session_id: str) -> None:
        history = await recent_messages(self.chat.engine, tenant.id, session_id, HISTORY_TURNS)
        if not history or history[-1].role != "visitor":
            return  # someone already answered (an agent, or a reply that raced this one)
        request = ReplyRequest(tenant, tuple(ChatTurn(message.role, message.text) for message in history))
        message_id = str(uuid.uuid4())
        buffer = self.keys.stream_buffer(tenant.id, session_id)
        self.chat.publish(tenant.id, session_id, 0, b'{"type":"typing","role":"ai","active":true}')
        self.broker.buffer_clear(buffer)
        self.broker.buffer_append(buffer, message_id.encode(), STREAM_BUFFER_TTL_S)
        parts: list[str] = []
        try:
            async for delta in self.ai.stream(request):
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
                await self.chat.post(
                    tenant.id, session_id, "ai", "".join(parts), meta={"truncated": True}, message_id=message_id
                )
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
        await self.chat.post(tenant.id, session_id, "ai", "".join(parts), message_id=message_id)
        self.broker.buffer_clear(buffer)
