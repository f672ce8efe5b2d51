"""Visitor context is kept ``HUB_VISITOR_CONTEXT_RETENTION_DAYS`` after the visitor was last seen, then deleted.

What a visitor's browser reported (pages, visits, languages, time zone) serves the agents of a live or recent
conversation; kept for ever it would only be a record of people's browsing. Every node sweeps, supervised: at
start, then every ``every_s``. A sweep deletes in batches of ``batch`` rows, each its own short transaction
bounded by the database timeout, with a pause between them, so a backlog (the first sweep over years of rows)
never holds locks or a connection for long. Nodes sweeping at once skip each other's rows and the writer's
(PostgreSQL's ``SKIP LOCKED``); deleting is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.metrics import Metrics
from hub.store.visits import delete_stale_contexts

logger = logging.getLogger(__name__)


class ContextRetention:
    every_s = 3600.0
    batch = 500
    pause_s = 0.05  # between two batches: the writers' transactions go first

    def __init__(self, engine: AsyncEngine, days: int, *, timeout_s: float, metrics: Metrics) -> None:
        self.engine = engine
        self.keep = timedelta(days=days)
        self.timeout_s = timeout_s
        self.metrics = metrics

    async def sweep(self) -> int:
        """Delete every context whose visitor was last seen longer ago than the retention; how many went."""
        before = datetime.now(UTC) - self.keep
        total = 0
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that lands as the
            # statement finishes, and this task, cancelled by a closing node right after its first sweep started,
            # slept on for an hour (the node never closed; seen as a hung test).
            async with asyncio.timeout(self.timeout_s):
                deleted = await delete_stale_contexts(self.engine, before, self.batch)
            total += deleted
            self.metrics.visitor_context_deleted.inc(deleted)
            if deleted < self.batch:
                return total
            await asyncio.sleep(self.pause_s)

    async def run(self) -> None:
        """Supervised: sweep now and every ``every_s``; a failed sweep (the store away) waits for the next."""
        while True:
            try:
                deleted = await self.sweep()
            except Exception as exc:
                logger.warning("deleting old visitor contexts failed, trying again later: %r", exc)
            else:
                if deleted:
                    logger.info("deleted %d visitor contexts last seen over %d days ago", deleted, self.keep.days)
            await asyncio.sleep(self.every_s)
