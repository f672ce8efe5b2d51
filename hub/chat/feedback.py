"""The visitor's feedback: a rating of each AI reply (helpful or not) and of the whole conversation.

Both the visitor socket (``rate``, ``rate_session``) and the widget's HTTP path come here. A reply may
only be rated by a visitor of its own session: the lookup names tenant, session and message, and an
unknown one is ``unknown_message``. The rating and its webhook event (``message.rated``,
``session.rated``) commit together; rating again replaces the rating. Nothing here is on the hot path:
one read and one write per rating.
"""

from __future__ import annotations

from typing import Any

from hub.errors import MessageNotFound, SessionNotFound
from hub.store.feedback import rated_reply, save_reply_rating, save_session_rating, session_exists
from hub.webhooks.outbox import Webhooks


class Feedback:
    def __init__(self, webhooks: Webhooks) -> None:
        self.webhooks = webhooks

    async def rate_reply(self, tenant_id: str, session_id: str, message_id: str, helpful: bool) -> None:
        engine = self.webhooks.engine
        reply = await rated_reply(engine, tenant_id, session_id, message_id)
        if reply is None:
            raise MessageNotFound("no AI reply with that message_id in this conversation")
        data: dict[str, Any] = {
            "session_id": session_id,
            "message_id": message_id,
            "helpful": helpful,
            "persona": reply.persona,
            "sources": reply.sources,
        }
        rows = await self.webhooks.rows(tenant_id, "message.rated", data)
        await save_reply_rating(engine, tenant_id, reply, helpful, rows)
        if rows:
            self.webhooks.wake()

    async def rate_session(self, tenant_id: str, session_id: str, stars: int, comment: str | None) -> None:
        engine = self.webhooks.engine
        if not await session_exists(engine, tenant_id, session_id):
            raise SessionNotFound("this conversation has no messages yet")
        comment = (comment or "").strip() or None
        data: dict[str, Any] = {"session_id": session_id, "stars": stars, "comment": comment}
        rows = await self.webhooks.rows(tenant_id, "session.rated", data)
        await save_session_rating(engine, tenant_id, session_id, stars, comment, rows)
        if rows:
            self.webhooks.wake()
