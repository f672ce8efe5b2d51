"""Emitting events into the outbox and delivering them from it.

``emit`` stores one delivery per subscribed endpoint (the endpoint list is cached per tenant, so a
tenant without webhooks costs nothing). One supervised dispatcher per node leases due deliveries
(``FOR UPDATE SKIP LOCKED``: each goes to exactly one node), sends them with a timeout, and records
the outcome; failures retry with exponential backoff for about a day. Chat traffic never waits for
any of this: events are handed to a background task.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
from async_lru import alru_cache
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks.webhooks import Webhook

from hub.store.webhooks import Delivery, Endpoint, claim_due, enqueue, list_endpoints, record_attempt
from hub.webhooks.guard import PrivateAddressRefused, PublicOnlyResolver

logger = logging.getLogger(__name__)

# Seconds before attempt 2, 3, …: about 28 hours in all, then the delivery is marked failed.
BACKOFF_S = (5, 30, 120, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200)
USER_AGENT = "Bob-hub-webhooks/1"


class Webhooks:
    endpoints_ttl_s = 10.0
    batch = 20
    lease = timedelta(seconds=60)
    timeout_s = 10.0
    poll_s = 1.0

    def __init__(self, engine: AsyncEngine, *, allow_private: bool) -> None:
        self.engine = engine
        self.allow_private = allow_private
        self.backoff_s: tuple[float, ...] = BACKOFF_S
        # Single-flight: the first messages of many new sessions at once read a tenant's endpoints once.
        self._endpoints = alru_cache(maxsize=10_000, ttl=self.endpoints_ttl_s)(self._read_endpoints)
        self._listening: dict[str, frozenset[str]] = {}  # tenant -> event types subscribed, as last read
        self._pending: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None

    def wake(self) -> None:
        self._wake.set()

    def forget(self, tenant_id: str) -> None:
        self._endpoints.cache_invalidate(tenant_id)
        self._listening.pop(tenant_id, None)

    def emit(self, tenant_id: str, event_type: str, data: dict[str, Any]) -> None:
        """Fire and forget for the caller; stored before it is ever sent.

        Called for every stored message: when the cache already says nobody listens, it costs a lookup.
        """
        listening = self._listening.get(tenant_id)
        if listening is not None and event_type not in listening and self._endpoints.cache_contains(tenant_id):
            return
        task = asyncio.create_task(self._store(tenant_id, event_type, data))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _read_endpoints(self, tenant_id: str) -> list[Endpoint]:
        endpoints = [e for e in await list_endpoints(self.engine, tenant_id) if not e.disabled]
        if len(self._listening) > 10_000:
            self._listening.clear()
        self._listening[tenant_id] = frozenset(event for e in endpoints for event in e.events)
        return endpoints

    async def _subscribed(self, tenant_id: str, event_type: str) -> list[str]:
        return [e.id for e in await self._endpoints(tenant_id) if event_type in e.events]

    async def _store(self, tenant_id: str, event_type: str, data: dict[str, Any]) -> None:
        try:
            endpoint_ids = await self._subscribed(tenant_id, event_type)
            if not endpoint_ids:
                return
            payload = orjson.dumps(
                {"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data}
            ).decode()
            await enqueue(self.engine, tenant_id, endpoint_ids, event_type, payload)
            self._wake.set()
        except Exception:
            logger.exception("storing webhook event %s of tenant %s failed", event_type, tenant_id)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=100, resolver=None if self.allow_private else PublicOnlyResolver(), force_close=True
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
            )
        return self._session

    async def run(self) -> None:
        """The dispatcher (supervised): deliver what is due, then wait for news or the next poll."""
        while True:
            claimed = await claim_due(self.engine, self.batch, self.lease)
            if claimed:
                await asyncio.gather(*(self._deliver(delivery, endpoint) for delivery, endpoint in claimed))
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
            except TimeoutError:
                pass
            self._wake.clear()

    async def _deliver(self, delivery: Delivery, endpoint: Endpoint) -> None:
        now = datetime.now(UTC)
        signature = Webhook(endpoint.secret).sign(delivery.id, now, delivery.payload)
        headers = {
            "webhook-id": delivery.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
        status: int | None = None
        error: str | None = None
        try:
            async with self.session.post(endpoint.url, data=delivery.payload.encode(), headers=headers) as response:
                status = response.status
                await response.read()
            if not 200 <= status < 300:
                error = f"the receiver answered HTTP {status}"
        except Exception as exc:  # refused address, timeout, connection refused, TLS, …: all are retried
            cause = exc.__cause__
            if isinstance(cause, PrivateAddressRefused):  # aiohttp wraps the guard's refusal; say it plainly
                exc = cause
            error = f"{type(exc).__name__}: {exc}"[:500]
        delivered = error is None
        attempt = delivery.attempts + 1
        next_at = None
        if not delivered and attempt <= len(self.backoff_s):
            next_at = datetime.now(UTC) + timedelta(seconds=self.backoff_s[attempt - 1])
        if not delivered:
            logger.info("webhook %s to %s failed (attempt %d): %s", delivery.id, endpoint.url, attempt, error)
        await record_attempt(
            self.engine, delivery.id, delivered=delivered, status_code=status, error=error, next_attempt_at=next_at
        )

    async def aclose(self) -> None:
        if self._pending:  # events being stored finish first: a graceful stop loses none
            await asyncio.wait(list(self._pending), timeout=5)
        if self._session is not None:
            await self._session.close()
            await asyncio.sleep(0)
