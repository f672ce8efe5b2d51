"""Webhook events into the outbox, and the dispatcher that delivers them from it.

An event is never sent from memory: its deliveries are rows written in the same transaction as
the change they report (a message by the writer's batch, a takeover with the session's new mode),
so an event exists exactly when its change does, whatever fails after the commit. The endpoint
list is cached per tenant, so a tenant without webhooks costs a lookup per message. One supervised
dispatcher per node leases due deliveries (``FOR UPDATE SKIP LOCKED``: each goes to exactly one
node), sends them with a timeout, and records the outcome; failures retry with exponential backoff
for about a day.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import msgspec
from async_lru import alru_cache
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks.webhooks import Webhook

from hub.metrics import Metrics
from hub.protocol import message_frame
from hub.store.models import StoredMessage
from hub.store.webhooks import (
    Delivery,
    Endpoint,
    OutboxRow,
    claim_due,
    delivery_rows,
    list_endpoints,
    record_attempt,
)
from hub.supervise import woken
from hub.webhooks.guard import PrivateAddressRefused, PublicOnlyResolver

logger = logging.getLogger(__name__)

# Seconds before attempt 2, 3, …: about 28 hours in all, then the delivery is marked failed.
BACKOFF_S = (5, 30, 120, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200)
USER_AGENT = "Bob-hub-webhooks/1"
MessageEvents = Callable[[StoredMessage], list[OutboxRow]]
_encoder = msgspec.json.Encoder()


def payload(event_type: str, data: dict[str, Any] | msgspec.Struct) -> str:
    """The exact JSON signed and sent: ``{"type", "timestamp", "data"}``."""
    return _encoder.encode({"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data}).decode()


class Webhooks:
    endpoints_ttl_s = 10.0
    batch = 20
    lease = timedelta(seconds=60)
    timeout_s = 10.0
    poll_s = 1.0

    def __init__(self, engine: AsyncEngine, *, allow_private: bool, metrics: Metrics | None = None) -> None:
        self.engine = engine
        self.metrics = metrics or Metrics.unexposed()
        self.allow_private = allow_private
        self.backoff_s: tuple[float, ...] = BACKOFF_S
        # Single-flight: the first messages of many new sessions at once read a tenant's endpoints once.
        self._endpoints = alru_cache(maxsize=10_000, ttl=self.endpoints_ttl_s)(self._read_endpoints)
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None

    def wake(self) -> None:
        """New deliveries were committed: look now rather than at the next poll."""
        self._wake.set()

    def forget(self, tenant_id: str | None) -> None:
        """One tenant's endpoints, or (None) every tenant's."""
        if tenant_id is None:
            self._endpoints.cache_clear()
        else:
            self._endpoints.cache_invalidate(tenant_id)

    async def _read_endpoints(self, tenant_id: str) -> dict[str, list[str]]:
        """Event type -> ids of the tenant's enabled endpoints subscribed to it."""
        listening: dict[str, list[str]] = {}
        for endpoint in await list_endpoints(self.engine, tenant_id):
            if not endpoint.disabled:
                for event in endpoint.events:
                    listening.setdefault(event, []).append(endpoint.id)
        return listening

    async def rows(self, tenant_id: str, event_type: str, data: dict[str, Any]) -> list[OutboxRow]:
        """The deliveries of one event, to write in the transaction of the change it reports."""
        endpoint_ids = (await self._endpoints(tenant_id)).get(event_type)
        if not endpoint_ids:
            return []
        return delivery_rows(tenant_id, endpoint_ids, event_type, payload(event_type, data))

    async def maker(self, tenant_id: str, event_type: str) -> Callable[[msgspec.Struct], list[OutboxRow]] | None:
        """What makes the deliveries of an event whose data is known only inside its change's transaction (who
        was assigned before); None when nobody listens, so the transaction does nothing more."""
        endpoint_ids = (await self._endpoints(tenant_id)).get(event_type)
        if not endpoint_ids:
            return None

        def rows(data: msgspec.Struct) -> list[OutboxRow]:
            return delivery_rows(tenant_id, endpoint_ids, event_type, payload(event_type, data))

        return rows

    async def for_message(self, tenant_id: str, role: str) -> MessageEvents | None:
        """What the writer adds to a message's batch once the message has its seq; None: nobody listens."""
        listening = await self._endpoints(tenant_id)
        created = listening.get("session.created")
        said = listening.get("message.created") if role != "system" else None  # notices are not messages
        if not created and not said:
            return None

        def events(message: StoredMessage) -> list[OutboxRow]:
            rows: list[OutboxRow] = []
            if created and message.seq == 1:
                data: dict[str, Any] = {"session_id": message.session_id}
                rows += delivery_rows(tenant_id, created, "session.created", payload("session.created", data))
            if said:
                data = {"session_id": message.session_id, "message": message_frame(message)}
                rows += delivery_rows(tenant_id, said, "message.created", payload("message.created", data))
            return rows

        return events

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
            await woken(self._wake, self.poll_s)
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
        if delivered:
            self.metrics.webhooks_delivered.inc()
        else:
            (self.metrics.webhooks_failed if next_at is not None else self.metrics.webhooks_gave_up).inc()
        if not delivered:
            logger.info("webhook %s to %s failed (attempt %d): %s", delivery.id, endpoint.url, attempt, error)
        await record_attempt(
            self.engine, delivery.id, delivered=delivered, status_code=status, error=error, next_attempt_at=next_at
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            await asyncio.sleep(0)
