"""Which sessions have a visitor connected, on this node and on every node.

Each node counts its own visitor sockets per session and, while a count is above zero, keeps a
``session node`` member alive in the tenant's presence set; a node that dies stops renewing and its
members lapse. Changes are announced to agents' dashboards as session patches.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from hub.chat.service import ChatService
from hub.coord.base import Coordinator
from hub.keys import Keys

logger = logging.getLogger(__name__)


class Presence:
    def __init__(self, coord: Coordinator, keys: Keys, node_id: str, chat: ChatService, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self.coord = coord
        self.keys = keys
        self.node_id = node_id
        self.chat = chat
        self._local: dict[tuple[str, str], int] = {}

    def _member(self, session_id: str) -> str:
        return f"{session_id} {self.node_id}"

    def online_here(self, tenant_id: str, session_id: str) -> bool:
        return (tenant_id, session_id) in self._local

    async def joined(self, tenant_id: str, session_id: str, *, announce: bool) -> None:
        key = (tenant_id, session_id)
        count = self._local.get(key, 0)
        self._local[key] = count + 1
        if count:
            return
        try:
            await self.coord.presence_touch(self.keys.presence(tenant_id), [self._member(session_id)], self.ttl_s)
        except Exception as exc:  # presence is advisory: a Redis hiccup must not break a visitor's socket
            logger.warning("presence update for session %s failed: %s", session_id, exc)
        if announce:
            self.chat.announce(tenant_id, {"id": session_id, "visitor_online": True})

    async def left(self, tenant_id: str, session_id: str, *, announce: bool) -> None:
        key = (tenant_id, session_id)
        count = self._local.get(key, 0)
        if count > 1:
            self._local[key] = count - 1
            return
        self._local.pop(key, None)
        try:
            await self.coord.presence_remove(self.keys.presence(tenant_id), [self._member(session_id)])
        except Exception as exc:
            logger.warning("presence update for session %s failed: %s", session_id, exc)
        if announce and session_id not in await self.online(tenant_id):
            self.chat.announce(tenant_id, {"id": session_id, "visitor_online": False})

    async def online(self, tenant_id: str) -> set[str]:
        """Session ids with a visitor connected on any node."""
        local = {session for tenant, session in self._local if tenant == tenant_id}
        try:
            members = await self.coord.presence_members(self.keys.presence(tenant_id))
        except Exception as exc:
            logger.warning("reading presence failed: %s", exc)
            return local
        return local | {member.partition(" ")[0] for member in members}

    async def run(self) -> None:
        """Heartbeat (supervised): renew this node's members well before they lapse."""
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            by_tenant: defaultdict[str, list[str]] = defaultdict(list)
            for tenant_id, session_id in tuple(self._local):
                by_tenant[tenant_id].append(self._member(session_id))
            for tenant_id, members in by_tenant.items():
                try:
                    await self.coord.presence_touch(self.keys.presence(tenant_id), members, self.ttl_s)
                except Exception as exc:  # Redis away: members may lapse; the next beat writes them again
                    logger.warning("renewing visitor presence failed: %s", exc)
                    break
