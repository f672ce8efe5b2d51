"""A staff member's Mentions inbox: the notes that named them, newest first, and which of them they have read.

The rows are written with each note (``hub.chat.notes``). Marking some read tells the person's other Mission
Controls, on every node, with a ``mentions_read`` frame on the tenant's channel that only their sockets pass on
(``hub.ws.agent``): the same count in every tab.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.chat.publisher import Publisher
from hub.errors import MentionNotFound
from hub.protocol import MentionsRead
from hub.store.mentions import Mention, inbox, mark_read, unread_count


@dataclass(frozen=True)
class InboxPage:
    mentions: list[Mention]
    unread: int
    next_before: str | None  # the id to ask the next page ``before``; None on the last page


class Mentions:
    def __init__(
        self, engine: AsyncEngine, publisher: Publisher, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.engine = engine
        self.publisher = publisher
        self.clock = clock

    async def page(self, tenant_id: str, user_id: str, *, limit: int, before: str | None = None) -> InboxPage:
        """One page of the person's mentions (one more is read to know whether another page follows)."""
        found = await inbox(self.engine, tenant_id, user_id, limit=limit + 1, before=before)
        if found is None:
            raise MentionNotFound("'before': no mention of yours has this id")
        unread = await unread_count(self.engine, tenant_id, user_id)
        more = len(found) > limit
        shown = found[:limit]
        return InboxPage(shown, unread, shown[-1].id if more else None)

    async def read(self, tenant_id: str, user_id: str, ids: Sequence[str] | None) -> MentionsRead:
        """Mark ``ids`` read (None: all of them, up to now) and tell the person's other Mission Controls."""
        at = self.clock()
        marked = await mark_read(self.engine, tenant_id, user_id, ids, at)
        if marked.unknown:
            raise MentionNotFound(f"no mention of yours has the id {marked.unknown[0][:64]!r}; nothing was marked")
        frame = MentionsRead(
            agent_id=user_id,
            # "Mark all read": the ones it marked, not a time, so that one written in the same instant and
            # committed just after stays unread in the person's other tabs, as in the store.
            ids=list(dict.fromkeys(ids)) if ids is not None else marked.marked,
            up_to=at.isoformat() if ids is None else None,
            unread=marked.unread,
        )
        self.publisher.mentions_read(tenant_id, frame)
        return frame
