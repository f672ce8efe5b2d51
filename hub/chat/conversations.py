"""What the edge does with a live conversation: a visitor's message (which wakes the AI), typing, a new session."""

from __future__ import annotations

from hub.chat.handoffs import Handoffs
from hub.chat.replies import ReplyRunner
from hub.chat.service import ChatService
from hub.protocol import SessionChange, StaffRenamed, Typing, encode
from hub.store.models import Tenant
from hub.store.writer import MessageWriter, WriteResult


class Conversations:
    def __init__(self, chat: ChatService, replies: ReplyRunner, handoffs: Handoffs, writer: MessageWriter) -> None:
        self.chat = chat
        self.replies = replies
        self.handoffs = handoffs
        self.writer = writer

    async def visitor_message(
        self, tenant: Tenant, session_id: str, text: str, client_id: str | None = None
    ) -> WriteResult:
        result = await self.chat.post(tenant.id, session_id, "visitor", text, client_id=client_id)
        if result.status == "closed" and not result.message.duplicate:
            # A visitor who writes again after the conversation was closed starts it over with Bob.
            await self.chat.change(
                tenant.id, session_id, SessionChange(id=session_id, mode="ai", status="open", owner=None)
            )
            result = WriteResult(result.message, "ai", "open")
        if not result.message.duplicate and result.mode == "ai" and self.replies.ai.answers:
            self.replies.request(tenant, session_id)
        return result

    async def ask_for_person(self, tenant: Tenant, session_id: str, reason: str | None = None) -> bool:
        """The visitor's own request for a person (the widget's control, or a field of an HTTP turn)."""
        await self.writer.ensure_session(tenant.id, session_id)  # asking may come before any message
        return await self.handoffs.request(tenant, session_id, "visitor", reason)

    def typing(self, tenant_id: str, session_id: str, role: str, active: bool, author: str | None = None) -> None:
        """Not stored: every socket of the session, on every node, sees it now or never."""
        frame = Typing(role=role, active=active, author=author)  # type: ignore[arg-type]
        self.chat.publisher.session(tenant_id, session_id, 0, encode(frame))

    def staff_renamed(self, tenant_id: str, user_id: str, name: str) -> None:
        self.chat.publisher.staff_renamed(tenant_id, StaffRenamed(agent_id=user_id, name=name))

    async def open_session(self, tenant_id: str, session_id: str) -> None:
        """Create an empty session now (sessions otherwise appear with their first message)."""
        await self.writer.ensure_session(tenant_id, session_id)

    @property
    def ai_answers(self) -> bool:
        return self.replies.ai.answers
