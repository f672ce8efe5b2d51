"""The visitor's feedback: a rating of each AI reply (helpful or not) and of the whole conversation.

Both the visitor socket (``rate``, ``rate_session``) and the widget's HTTP path come here. A reply may
only be rated by a visitor of its own session: the lookup names tenant, session and message, and an
unknown one is ``unknown_message``. The rating and its webhook event (``message.rated``,
``session.rated``) commit together; rating again replaces the rating. A stored rating then goes out on
the session's channel (``rated``, ``session_rated``), so every socket of the conversation on every node
sees it: the visitor's other tabs, and Mission Control watching it live. Nothing here is on the hot path:
one read and one write per rating, one read per watch.
"""

from __future__ import annotations

from typing import Any

from hub.chat.publisher import Publisher
from hub.errors import MessageNotFound, SessionNotFound
from hub.protocol import Rated, SessionRated, encode
from hub.store.feedback import (
    rated_reply,
    save_reply_rating,
    save_session_rating,
    session_exists,
    session_feedback,
)
from hub.webhooks.outbox import Webhooks


class Feedback:
    def __init__(self, webhooks: Webhooks, publisher: Publisher) -> None:
        self.webhooks = webhooks
        self.publisher = publisher

    async def rate_reply(self, tenant_id: str, session_id: str, message_id: str, helpful: bool) -> Rated:
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
        rated = Rated(message_id=message_id, helpful=helpful)
        self.publisher.session(tenant_id, session_id, 0, encode(rated))
        return rated

    async def rate_session(self, tenant_id: str, session_id: str, stars: int, comment: str | None) -> SessionRated:
        engine = self.webhooks.engine
        if not await session_exists(engine, tenant_id, session_id):
            raise SessionNotFound("this conversation has no messages yet")
        comment = (comment or "").strip() or None
        data: dict[str, Any] = {"session_id": session_id, "stars": stars, "comment": comment}
        rows = await self.webhooks.rows(tenant_id, "session.rated", data)
        await save_session_rating(engine, tenant_id, session_id, stars, comment, rows)
        if rows:
            self.webhooks.wake()
        rated = SessionRated(stars=stars, comment=comment)
        self.publisher.session(tenant_id, session_id, 0, encode(rated))
        return rated

    async def of_session(self, tenant_id: str, session_id: str) -> list[Rated | SessionRated]:
        """The ratings stored so far for a conversation, as the frames that said them (for a new watcher)."""
        found = await session_feedback(self.webhooks.engine, tenant_id, session_id)
        frames: list[Rated | SessionRated] = [Rated(message_id=id_, helpful=helpful) for id_, helpful in found.replies]
        if found.stars is not None:
            frames.append(SessionRated(stars=found.stars, comment=found.comment))
        return frames
