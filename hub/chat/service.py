"""Posting durable messages: commit first, then fan out, and wake the AI when it should answer.

Every stored message also patches the session's row in agents' dashboards (the tenant channel), so
Mission Control's list stays live without anyone subscribing to every session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.chat.fanout import Fanout
from hub.keys import Keys
from hub.store.models import StoredMessage, Tenant, preview_json
from hub.store.sessions import set_control
from hub.store.transcript import messages_after
from hub.store.writer import MessageWriter, WriteResult

if TYPE_CHECKING:
    from hub.chat.presence import Presence
    from hub.chat.replies import ReplyRunner
    from hub.webhooks.outbox import Webhooks


class ChatService:
    def __init__(self, engine: AsyncEngine, writer: MessageWriter, fanout: Fanout, keys: Keys) -> None:
        self.engine = engine
        self.writer = writer
        self.fanout = fanout
        self.keys = keys
        self.replies: ReplyRunner | None = None
        self.presence: Presence | None = None
        self.webhooks: Webhooks | None = None

    async def post(
        self,
        tenant_id: str,
        session_id: str,
        role: str,
        text: str,
        *,
        client_id: str | None = None,
        meta: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> WriteResult:
        result = await self.writer.append(
            tenant_id, session_id, role, text, client_id=client_id, meta=meta, message_id=message_id
        )
        message = result.message
        if not message.duplicate:
            self.publish(tenant_id, session_id, message.seq, orjson.dumps(message.frame()))
            patch: dict[str, Any] = {
                "id": session_id,
                "seq": message.seq,
                "updated_at": message.created_at.isoformat(),
                "last_message": preview_json(message),
                "mode": result.mode,
                "status": result.status,
            }
            if message.seq == 1:
                online = self.presence is not None and self.presence.online_here(tenant_id, session_id)
                patch.update(created_at=message.created_at.isoformat(), owner=None, visitor_online=online)
                self.event(tenant_id, "session.created", {"session_id": session_id})
            self.announce(tenant_id, patch)
            if role != "system":
                self.event(tenant_id, "message.created", {"session_id": session_id, "message": message.frame()})
        return result

    def publish(self, tenant_id: str, session_id: str, seq: int, frame: bytes) -> None:
        self.fanout.publish(self.keys.session_channel(tenant_id, session_id), seq, frame)

    def event(self, tenant_id: str, event_type: str, data: dict[str, Any]) -> None:
        """A webhook event (stored in the outbox in the background; never delays the chat)."""
        if self.webhooks is not None:
            self.webhooks.emit(tenant_id, event_type, data)

    def announce(self, tenant_id: str, patch: dict[str, Any]) -> None:
        """Tell every agent dashboard of the tenant what changed about one session."""
        self.fanout.publish(self.keys.tenant_channel(tenant_id), 0, orjson.dumps({"type": "session", "session": patch}))

    async def visitor_message(
        self, tenant: Tenant, session_id: str, text: str, client_id: str | None = None
    ) -> WriteResult:
        result = await self.post(tenant.id, session_id, "visitor", text, client_id=client_id)
        if result.status == "closed" and not result.message.duplicate:
            # A visitor who writes again after the conversation was closed starts it over with Bob.
            await set_control(self.engine, tenant.id, session_id, mode="ai", status="open", owner=None)
            self.announce(tenant.id, {"id": session_id, "mode": "ai", "status": "open", "owner": None})
            result = WriteResult(result.message, "ai", "open")
        if (
            not result.message.duplicate
            and result.mode == "ai"
            and self.replies is not None
            and self.replies.ai.answers
        ):
            self.replies.request(tenant, session_id)
        return result

    async def history(self, tenant_id: str, session_id: str, after_seq: int = 0) -> list[StoredMessage]:
        return await messages_after(self.engine, tenant_id, session_id, after_seq)
