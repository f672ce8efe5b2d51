"""Which sessions have a visitor connected, on this node and on every node.

Each node counts its own visitor sockets per session and, while a count is above zero, keeps a
``session node`` member alive in the tenant's presence set; a node that dies stops renewing and its
members lapse. Connects and disconnects only touch local state: one flusher task writes the
changes to the shared set in batches (a burst of thousands of connects costs a few round trips,
not one each) and renews everything every third of the TTL.
Agents connected to Mission Control are kept the same way (``agent node`` members in the tenant's agents
set): a visitor who asks for a person is told whether anyone is there. Agents' dashboards get a patch when a
session's first visitor socket comes (at once) or its last one anywhere goes (after the flush).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable

from hub.coord.base import Coordinator
from hub.keys import Keys
from hub.protocol import SessionChange
from hub.supervise import woken

logger = logging.getLogger(__name__)


class Presence:
    def __init__(
        self,
        coord: Coordinator,
        keys: Keys,
        node_id: str,
        ttl_s: float,
        announce: Callable[[str, SessionChange], None],
    ) -> None:
        self.coord = coord
        self.keys = keys
        self.node_id = node_id
        self.announce = announce  # a session's visitor came or went: every dashboard of the tenant hears it
        self.ttl_s = ttl_s
        self._local: dict[tuple[str, str], int] = {}
        self._came: defaultdict[str, set[str]] = defaultdict(set)
        self._went: defaultdict[str, dict[str, bool]] = defaultdict(dict)  # session -> announce when gone
        self._agents: dict[tuple[str, str], int] = {}
        self._agents_came: set[tuple[str, str]] = set()
        self._agents_went: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()

    def _member(self, session_id: str) -> str:
        return f"{session_id} {self.node_id}"

    def online_here(self, tenant_id: str, session_id: str) -> bool:
        return (tenant_id, session_id) in self._local

    def joined(self, tenant_id: str, session_id: str, *, announce: bool) -> None:
        key = (tenant_id, session_id)
        count = self._local.get(key, 0)
        self._local[key] = count + 1
        if count:
            return
        self._went[tenant_id].pop(session_id, None)
        self._came[tenant_id].add(session_id)
        self._wake.set()
        if announce:
            self.announce(tenant_id, SessionChange(id=session_id, visitor_online=True))

    def left(self, tenant_id: str, session_id: str, *, announce: bool) -> None:
        key = (tenant_id, session_id)
        count = self._local.get(key, 0)
        if count > 1:
            self._local[key] = count - 1
            return
        self._local.pop(key, None)
        self._came[tenant_id].discard(session_id)
        self._went[tenant_id][session_id] = announce
        self._wake.set()

    def agent_joined(self, tenant_id: str, agent_id: str) -> None:
        key = (tenant_id, agent_id)
        self._agents[key] = self._agents.get(key, 0) + 1
        if self._agents[key] == 1:
            self._agents_went.discard(key)
            self._agents_came.add(key)
            self._wake.set()

    def agent_left(self, tenant_id: str, agent_id: str) -> None:
        key = (tenant_id, agent_id)
        count = self._agents.get(key, 0)
        if count > 1:
            self._agents[key] = count - 1
            return
        self._agents.pop(key, None)
        self._agents_came.discard(key)
        self._agents_went.add(key)
        self._wake.set()

    async def agents_online(self, tenant_id: str) -> bool:
        """Whether an agent of the tenant has Mission Control open on any node (Redis away: this node's view)."""
        if any(tenant == tenant_id for tenant, _ in self._agents):
            return True
        try:
            return bool(await self.coord.expiring_members(self.keys.agents(tenant_id)))
        except Exception as exc:
            logger.warning("reading agent presence failed: %s", exc)
            return False

    async def agents(self, tenant_id: str) -> set[str]:
        """The ids of the tenant's staff with Mission Control open on any node (Redis away: this node's)."""
        local = {agent for tenant, agent in self._agents if tenant == tenant_id}
        try:
            members = await self.coord.expiring_members(self.keys.agents(tenant_id))
        except Exception as exc:
            logger.warning("reading agent presence failed: %s", exc)
            return local
        return local | {member.partition(" ")[0] for member in members}

    async def agent_online(self, tenant_id: str, agent_id: str) -> bool:
        """Whether this agent has Mission Control open on any node (Redis away: this node's view)."""
        if (tenant_id, agent_id) in self._agents:
            return True
        return agent_id in await self.agents(tenant_id)

    async def online(self, tenant_id: str) -> set[str]:
        """Session ids with a visitor connected on any node (this node's own count is the truth for it)."""
        local = {session for tenant, session in self._local if tenant == tenant_id}
        try:
            members = await self.coord.expiring_members(self.keys.presence(tenant_id))
        except Exception as exc:
            logger.warning("reading presence failed: %s", exc)
            return local
        others = (member.partition(" ") for member in members)
        return local | {session for session, _, node in others if node != self.node_id}

    async def flush(self) -> None:
        agents_came, self._agents_came = self._agents_came, set()
        agents_went, self._agents_went = self._agents_went, set()
        for tenant_id, agent_id in agents_came:
            await self.coord.expiring_touch(self.keys.agents(tenant_id), [self._member(agent_id)], self.ttl_s)
        for tenant_id, agent_id in agents_went:
            await self.coord.expiring_remove(self.keys.agents(tenant_id), [self._member(agent_id)])
        came, self._came = self._came, defaultdict(set)
        went, self._went = self._went, defaultdict(dict)
        for tenant_id, sessions in came.items():
            if sessions:
                members = [self._member(session) for session in sessions]
                await self.coord.expiring_touch(self.keys.presence(tenant_id), members, self.ttl_s)
        for tenant_id, gone in went.items():
            if not gone:
                continue
            await self.coord.expiring_remove(self.keys.presence(tenant_id), [self._member(s) for s in gone])
            announce = [s for s, wanted in gone.items() if wanted and (tenant_id, s) not in self._local]
            if announce:
                still_online = await self.online(tenant_id)
                for session_id in announce:
                    if session_id not in still_online:
                        self.announce(tenant_id, SessionChange(id=session_id, visitor_online=False))

    async def renew(self) -> None:
        by_tenant: defaultdict[str, list[str]] = defaultdict(list)
        for tenant_id, session_id in tuple(self._local):
            by_tenant[tenant_id].append(self._member(session_id))
        for tenant_id, members in by_tenant.items():
            await self.coord.expiring_touch(self.keys.presence(tenant_id), members, self.ttl_s)
        agents: defaultdict[str, list[str]] = defaultdict(list)
        for tenant_id, agent_id in tuple(self._agents):
            agents[tenant_id].append(self._member(agent_id))
        for tenant_id, members in agents.items():
            await self.coord.expiring_touch(self.keys.agents(tenant_id), members, self.ttl_s)

    async def run(self) -> None:
        """The flusher and heartbeat (supervised). A failed write is retried by the next renewal."""
        loop = asyncio.get_running_loop()
        next_renewal = loop.time() + self.ttl_s / 3
        while True:
            await woken(self._wake, max(0.0, next_renewal - loop.time()))
            self._wake.clear()
            try:
                await self.flush()
                if loop.time() >= next_renewal:
                    next_renewal = loop.time() + self.ttl_s / 3
                    await self.renew()
            except Exception as exc:  # Redis away: marks may lapse meanwhile; the next renewal writes them again
                logger.warning("writing visitor presence failed: %s", exc)
                await asyncio.sleep(min(1.0, self.ttl_s / 3))
