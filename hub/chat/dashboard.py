"""Mission Control's view of a tenant's conversations: the session list, its live patches, who is online."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.chat.fanout import Fanout, Listener
from hub.chat.presence import Presence
from hub.keys import Keys
from hub.protocol import Label, SessionRow, Sessions, encode, session_row
from hub.store.labels import list_labels
from hub.store.sessions import list_sessions, session_summary


class Dashboard:
    def __init__(self, engine: AsyncEngine, fanout: Fanout, keys: Keys, presence: Presence) -> None:
        self.engine = engine
        self.fanout = fanout
        self.keys = keys
        self.presence = presence

    async def follow(self, tenant_id: str, listener: Listener) -> None:
        """Hear the tenant's session patches and notices (``hub.chat.publisher``)."""
        await self.fanout.join(self.keys.tenant_channel(tenant_id), listener)

    async def unfollow(self, tenant_id: str, listener: Listener) -> None:
        await self.fanout.leave(self.keys.tenant_channel(tenant_id), listener)

    async def snapshot(self, tenant_id: str) -> tuple[bytes, dict[str, bool]]:
        """The ``sessions`` frame (with the tenant's labels), and who was shown online in it (to notice when that
        changes)."""
        sessions = await list_sessions(self.engine, tenant_id)
        labels = [Label(label.id, label.name, label.color) for label in await list_labels(self.engine, tenant_id)]
        online = await self.presence.online(tenant_id)
        shown = {session.id: session.id in online for session in sessions}
        rows = [session_row(s, shown[s.id]) for s in sessions]
        return encode(Sessions(sessions=rows, labels=labels)), shown

    async def row(self, tenant_id: str, session_id: str) -> SessionRow | None:
        summary = await session_summary(self.engine, tenant_id, session_id)
        if summary is None:
            return None
        return session_row(summary, session_id in await self.presence.online(tenant_id))

    async def online(self, tenant_id: str) -> set[str]:
        return await self.presence.online(tenant_id)
