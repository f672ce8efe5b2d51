"""What an AI reply needs to know about its tenant besides the conversation, kept off the per-reply path:
the active persona (cached a second or two) and the AI credits used this month (counted here, written to
the store once a second per tenant).

Measured: reading both per reply, plus one credit write per reply, made 200 replies starting at once queue
on the database pool (token p99 in the first seconds of the bench). The price: a persona change reaches
other nodes within ``persona_ttl_s``, and the credit limit is soft by what other nodes spent in the last
``refresh_s`` (a few replies); a node killed loses at most one second of counts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from async_lru import alru_cache
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.credits import spend, usage
from hub.store.personas import Persona, active_persona

logger = logging.getLogger(__name__)


class TenantMeter:
    persona_ttl_s = 2.0
    refresh_s = 2.0
    flush_every_s = 1.0

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Single-flight caches: 200 replies starting at once make one read per tenant, not 200.
        self._persona = alru_cache(maxsize=10_000, ttl=self.persona_ttl_s)(self._read_persona)
        self._stored = alru_cache(maxsize=10_000, ttl=self.refresh_s)(self._read_usage)  # the store's count
        self._pending: Counter[str] = Counter()  # spent here, not written yet
        self._flushing: Counter[str] = Counter()  # being written right now

    async def _read_persona(self, tenant_id: str) -> Persona | None:
        async with self.engine.connect() as connection:
            return await active_persona(connection, tenant_id)

    async def _read_usage(self, tenant_id: str) -> int:
        return await usage(self.engine, tenant_id)

    async def persona(self, tenant_id: str) -> Persona | None:
        return await self._persona(tenant_id)

    def forget_persona(self, tenant_id: str | None) -> None:
        """One tenant's active persona, or (None) every tenant's."""
        if tenant_id is None:
            self._persona.cache_clear()
        else:
            self._persona.cache_invalidate(tenant_id)

    async def credits_used(self, tenant_id: str) -> int:
        """This month's credits as an AI reply checks them: the store's count (cached) and this node's since."""
        return self.used(tenant_id, await self._stored(tenant_id))

    def used(self, tenant_id: str, stored: int) -> int:
        """Credits used: what the store holds plus what this node spent and has not written yet.

        (Other nodes' unwritten second is not known here: the limit is soft by that much.)
        """
        return stored + self._pending[tenant_id] + self._flushing[tenant_id]

    def spend(self, tenant_id: str, credits: int = 1) -> None:
        self._pending[tenant_id] += credits

    async def flush(self) -> None:
        self._flushing, self._pending = self._pending, Counter()
        try:
            for tenant_id, credits in list(self._flushing.items()):
                await spend(self.engine, tenant_id, credits)
                del self._flushing[tenant_id]
                self._stored.cache_invalidate(tenant_id)  # the next reply reads the count that holds them
        finally:
            self._pending.update(self._flushing)  # what could not be written is tried again next time
            self._flushing = Counter()

    async def run(self) -> None:
        """Supervised: write the counts once a second."""
        while True:
            await asyncio.sleep(self.flush_every_s)
            await self.flush()

    async def aclose(self) -> None:
        try:
            await self.flush()
        except Exception:
            logger.exception("writing the last AI credit counts failed")
