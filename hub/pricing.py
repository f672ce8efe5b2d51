"""The published pricebook as every part of a node reads it: cached, and reloaded on every node the
moment any node publishes a new version (a broker message), with a periodic reload as a safety net."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.chat.fanout import Fanout
from hub.keys import Keys
from hub.plans import Pricebook
from hub.protocol import PricebookPublished, encode
from hub.store.pricebook import current_pricebook

logger = logging.getLogger(__name__)

RELOAD = encode(PricebookPublished())


class LivePricebook:
    reload_every_s = 60.0

    def __init__(self, engine: AsyncEngine, fanout: Fanout, keys: Keys) -> None:
        self.engine = engine
        self.fanout = fanout
        self.channel = keys.pricebook_channel()
        self.current: Pricebook | None = None
        self._reloading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.fanout.join(self.channel, self)
        await self.reload()

    async def stop(self) -> None:
        if self._reloading is not None:
            self._reloading.cancel()
            await asyncio.gather(self._reloading, return_exceptions=True)
        await self.fanout.leave(self.channel, self)

    async def reload(self) -> None:
        self.current = await current_pricebook(self.engine)

    def announce(self) -> None:
        """After publishing: every node reloads (this one at once, through the local fast path)."""
        self.fanout.publish(self.channel, 0, RELOAD)

    def deliver(self, seq: int, frame: str) -> None:
        self._schedule()

    def resync(self) -> None:
        self._schedule()  # a publish may have been missed while the broker was away

    def _schedule(self) -> None:
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.create_task(self._reload_logged())

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except Exception:
            logger.exception("reloading the pricebook failed; the next publish or periodic reload retries")

    async def run(self) -> None:
        """Supervised: reload now and then, so a node can never keep an old pricebook for long."""
        while True:
            await asyncio.sleep(self.reload_every_s)
            await self.reload()
