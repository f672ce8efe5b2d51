"""Webhook endpoints of a tenant and the delivery outbox (every event stored before it is sent)."""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.errors import NotFound
from hub.store.tables import webhook_deliveries, webhook_endpoints

WebhookEvent = Literal[
    "session.created",
    "message.created",
    "session.takeover",
    "session.handback",
    "session.closed",
    "credits.exhausted",
    "session.handoff_requested",
    "session.handoff_escalated",
    "message.rated",
    "session.rated",
    "conversation.assigned",
    "conversation.labels_changed",
]
EVENTS: tuple[str, ...] = get_args(WebhookEvent)


@dataclass(frozen=True)
class Endpoint:
    id: str
    tenant_id: str
    url: str
    events: tuple[str, ...]
    secret: str
    description: str
    disabled: bool
    created_at: datetime


@dataclass(frozen=True)
class Delivery:
    id: str
    tenant_id: str
    endpoint_id: str
    event_type: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        row.id, row.tenant_id, row.url, tuple(row.events), row.secret, row.description, row.disabled, row.created_at
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        row.id,
        row.tenant_id,
        row.endpoint_id,
        row.event_type,
        row.payload,
        row.status,
        row.attempts,
        row.next_attempt_at,
        row.last_status,
        row.last_error,
        row.created_at,
        row.delivered_at,
    )


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def list_endpoints(engine: AsyncEngine, tenant_id: str) -> list[Endpoint]:
    query = select(webhook_endpoints).where(webhook_endpoints.c.tenant_id == tenant_id)
    async with engine.connect() as connection:
        return [_endpoint(row) for row in await connection.execute(query.order_by(webhook_endpoints.c.created_at))]


async def get_endpoint(engine: AsyncEngine, tenant_id: str, endpoint_id: str) -> Endpoint | None:
    query = select(webhook_endpoints).where(
        webhook_endpoints.c.tenant_id == tenant_id, webhook_endpoints.c.id == endpoint_id
    )
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    return _endpoint(row) if row is not None else None


async def count_endpoints(engine: AsyncEngine, tenant_id: str) -> int:
    query = select(func.count()).select_from(webhook_endpoints).where(webhook_endpoints.c.tenant_id == tenant_id)
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar() or 0)


async def create_endpoint(
    engine: AsyncEngine, tenant_id: str, url: str, events: list[str], description: str
) -> Endpoint:
    endpoint = Endpoint(
        str(uuid.uuid4()), tenant_id, url, tuple(events), new_secret(), description, False, datetime.now(UTC)
    )
    async with engine.begin() as connection:
        await connection.execute(
            webhook_endpoints.insert().values(
                id=endpoint.id,
                tenant_id=tenant_id,
                url=url,
                events=list(events),
                secret=endpoint.secret,
                description=description,
                disabled=False,
                created_at=endpoint.created_at,
            )
        )
    return endpoint


async def update_endpoint(engine: AsyncEngine, tenant_id: str, endpoint_id: str, values: dict[str, Any]) -> Endpoint:
    async with engine.begin() as connection:
        result = await connection.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.tenant_id == tenant_id, webhook_endpoints.c.id == endpoint_id)
            .values(**values)
        )
        if not result.rowcount:
            raise NotFound("no such webhook endpoint in this tenant")
    found = await get_endpoint(engine, tenant_id, endpoint_id)
    assert found is not None
    return found


async def delete_endpoint(engine: AsyncEngine, tenant_id: str, endpoint_id: str) -> bool:
    async with engine.begin() as connection:
        owned = webhook_endpoints.c.tenant_id == tenant_id
        exists = (
            await connection.execute(select(webhook_endpoints.c.id).where(owned, webhook_endpoints.c.id == endpoint_id))
        ).first()
        if exists is None:
            return False
        await connection.execute(webhook_deliveries.delete().where(webhook_deliveries.c.endpoint_id == endpoint_id))
        await connection.execute(webhook_endpoints.delete().where(owned, webhook_endpoints.c.id == endpoint_id))
    return True


OutboxRow = dict[str, Any]


def delivery_rows(tenant_id: str, endpoint_ids: list[str], event_type: str, payload: str) -> list[OutboxRow]:
    """One pending delivery per endpoint, for the caller to insert in the transaction that made the event."""
    now = datetime.now(UTC)
    return [
        {
            "id": "msg_" + uuid.uuid4().hex,
            "tenant_id": tenant_id,
            "endpoint_id": endpoint_id,
            "event_type": event_type,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for endpoint_id in endpoint_ids
    ]


async def claim_due(engine: AsyncEngine, limit: int, lease: timedelta) -> list[tuple[Delivery, Endpoint]]:
    """Take due deliveries for this node: a lease, under ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so each
    is sent by exactly one node; a node that dies mid-delivery loses its lease and another retries."""
    now = datetime.now(UTC)
    due = (
        select(webhook_deliveries.c.id)
        .where(
            webhook_deliveries.c.status == "pending",
            webhook_deliveries.c.next_attempt_at <= now,
            (webhook_deliveries.c.locked_until.is_(None)) | (webhook_deliveries.c.locked_until < now),
        )
        .order_by(webhook_deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    async with engine.begin() as connection:
        ids = list((await connection.execute(due)).scalars())
        if not ids:
            return []
        await connection.execute(
            update(webhook_deliveries).where(webhook_deliveries.c.id.in_(ids)).values(locked_until=now + lease)
        )
        rows = await connection.execute(
            select(webhook_deliveries, webhook_endpoints)
            .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
            .where(webhook_deliveries.c.id.in_(ids))
        )
        claimed = []
        for row in rows:
            mapping = row._mapping
            delivery = _delivery(_Row({c.name: mapping[c] for c in webhook_deliveries.c}))
            endpoint = _endpoint(_Row({c.name: mapping[c] for c in webhook_endpoints.c}))
            claimed.append((delivery, endpoint))
    return claimed


class _Row:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


async def record_attempt(
    engine: AsyncEngine,
    delivery_id: str,
    *,
    delivered: bool,
    status_code: int | None,
    error: str | None,
    next_attempt_at: datetime | None,
) -> None:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "attempts": webhook_deliveries.c.attempts + 1,
        "last_status": status_code,
        "last_error": error[:500] if error else None,
        "locked_until": None,
    }
    if delivered:
        values.update(status="delivered", delivered_at=now)
    elif next_attempt_at is None:
        values.update(status="failed")
    else:
        values.update(next_attempt_at=next_attempt_at)
    async with engine.begin() as connection:
        await connection.execute(
            update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id).values(**values)
        )


async def list_deliveries(engine: AsyncEngine, tenant_id: str, endpoint_id: str, limit: int = 100) -> list[Delivery]:
    query = (
        select(webhook_deliveries)
        .where(webhook_deliveries.c.tenant_id == tenant_id, webhook_deliveries.c.endpoint_id == endpoint_id)
        .order_by(webhook_deliveries.c.created_at.desc())
        .limit(limit)
    )
    async with engine.connect() as connection:
        return [_delivery(row) for row in await connection.execute(query)]


async def redeliver(engine: AsyncEngine, tenant_id: str, endpoint_id: str, delivery_id: str) -> bool:
    """Queue a delivery again (after a failure, or to resend): due now, attempts start over."""
    async with engine.begin() as connection:
        result = await connection.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.tenant_id == tenant_id,
                webhook_deliveries.c.endpoint_id == endpoint_id,
                webhook_deliveries.c.id == delivery_id,
            )
            .values(status="pending", attempts=0, next_attempt_at=datetime.now(UTC), locked_until=None)
        )
    return bool(result.rowcount)
