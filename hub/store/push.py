"""Agents' push subscriptions, and the claims on each wait's alerts (one node sends each, once).

A claim is a conditional UPDATE (``… WHERE alerted_at IS NULL``): of several nodes that find the same
wait, the one whose statement changed the row sends, the others move on. The escalation's webhook
deliveries are written in the transaction of its claim, so the event exists exactly when the claim does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.tables import handoffs, push_subscriptions, users, webhook_deliveries
from hub.store.webhooks import OutboxRow

# A first alert older than this is no news any more (a node was down, or push was just turned on).
ALERT_FRESH = timedelta(minutes=10)


@dataclass(frozen=True)
class Subscription:
    id: str
    tenant_id: str
    user_id: str
    endpoint: str
    p256dh: str
    auth: str
    language: str
    created_at: datetime

    def info(self) -> dict[str, Any]:
        """As pywebpush takes it (the browser's ``PushSubscription.toJSON()``)."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


@dataclass(frozen=True)
class WaitAlert:
    """A wait for a person that is due an alert."""

    handoff_id: str
    tenant_id: str
    session_id: str
    reason: str
    note: str | None
    requested_at: datetime


def subscription_id(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


def _subscription(row: Any) -> Subscription:
    return Subscription(
        row.id, row.tenant_id, row.user_id, row.endpoint, row.p256dh, row.auth, row.language, row.created_at
    )


async def save_subscription(
    engine: AsyncEngine,
    tenant_id: str,
    user_id: str,
    *,
    endpoint: str,
    p256dh: str,
    auth: str,
    language: str,
    per_user: int,
) -> Subscription:
    """Store a browser's subscription for an agent (replacing the same browser's, whoever had it); beyond
    ``per_user`` subscriptions of that agent, the oldest go."""
    found = Subscription(
        subscription_id(endpoint), tenant_id, user_id, endpoint, p256dh, auth, language, datetime.now(UTC)
    )
    async with engine.begin() as connection:
        await connection.execute(delete(push_subscriptions).where(push_subscriptions.c.id == found.id))
        await connection.execute(
            push_subscriptions.insert().values(
                id=found.id,
                tenant_id=tenant_id,
                user_id=user_id,
                endpoint=endpoint,
                p256dh=p256dh,
                auth=auth,
                language=language,
                created_at=found.created_at,
            )
        )
        older = (
            select(push_subscriptions.c.id)
            .where(push_subscriptions.c.tenant_id == tenant_id, push_subscriptions.c.user_id == user_id)
            .order_by(push_subscriptions.c.created_at.desc(), push_subscriptions.c.id)
            .offset(per_user)
        )
        extra = list((await connection.execute(older)).scalars())
        if extra:
            await connection.execute(delete(push_subscriptions).where(push_subscriptions.c.id.in_(extra)))
    return found


async def delete_subscription(engine: AsyncEngine, tenant_id: str, user_id: str, endpoint: str) -> bool:
    """The agent's own subscription for that endpoint; False when the agent has none."""
    async with engine.begin() as connection:
        result = await connection.execute(
            delete(push_subscriptions).where(
                push_subscriptions.c.id == subscription_id(endpoint),
                push_subscriptions.c.tenant_id == tenant_id,
                push_subscriptions.c.user_id == user_id,
            )
        )
    return bool(result.rowcount)


async def forget_subscription(engine: AsyncEngine, found: Subscription) -> None:
    """The push service says the subscription is gone (404/410): so is ours."""
    async with engine.begin() as connection:
        await connection.execute(
            delete(push_subscriptions).where(
                push_subscriptions.c.id == found.id, push_subscriptions.c.tenant_id == found.tenant_id
            )
        )


async def tenant_subscriptions(engine: AsyncEngine, tenant_id: str, limit: int) -> list[Subscription]:
    """Every subscription of the tenant's enabled staff accounts (at most ``limit``, newest first)."""
    return await _staff_subscriptions(engine, tenant_id, None, limit)


async def user_subscriptions(engine: AsyncEngine, tenant_id: str, user_id: str, limit: int) -> list[Subscription]:
    """One enabled staff member's subscriptions in the tenant (at most ``limit``, newest first)."""
    return await _staff_subscriptions(engine, tenant_id, user_id, limit)


async def _staff_subscriptions(
    engine: AsyncEngine, tenant_id: str, user_id: str | None, limit: int
) -> list[Subscription]:
    query = (
        select(push_subscriptions)
        .join(users, users.c.id == push_subscriptions.c.user_id)
        .where(
            push_subscriptions.c.tenant_id == tenant_id,
            users.c.tenant_id == tenant_id,
            users.c.kind == "staff",
            users.c.disabled.is_(False),
        )
        .order_by(push_subscriptions.c.created_at.desc())
        .limit(limit)
    )
    if user_id is not None:
        query = query.where(push_subscriptions.c.user_id == user_id)
    async with engine.connect() as connection:
        return [_subscription(row) for row in await connection.execute(query)]


def _alert(row: Any) -> WaitAlert:
    return WaitAlert(row.id, row.tenant_id, row.session_id, row.reason, row.note, row.requested_at)


async def unalerted(engine: AsyncEngine, limit: int) -> list[WaitAlert]:
    """Open waits no node has claimed the first alert of yet (recent ones only), oldest first."""
    now = datetime.now(UTC)
    query = (
        select(handoffs)
        .where(handoffs.c.alerted_at.is_(None), handoffs.c.ended_at.is_(None))
        .where(handoffs.c.requested_at >= now - ALERT_FRESH)
        .order_by(handoffs.c.requested_at)
        .limit(limit)
    )
    async with engine.connect() as connection:
        return [_alert(row) for row in await connection.execute(query)]


async def claim_alert(engine: AsyncEngine, handoff_id: str) -> bool:
    async with engine.begin() as connection:
        result = await connection.execute(
            update(handoffs)
            .where(handoffs.c.id == handoff_id, handoffs.c.alerted_at.is_(None), handoffs.c.ended_at.is_(None))
            .values(alerted_at=datetime.now(UTC))
        )
    return bool(result.rowcount)


async def due_escalations(engine: AsyncEngine, limit: int) -> list[WaitAlert]:
    """Open waits past their tenant's limit that no node has escalated yet, the longest overdue first."""
    query = (
        select(handoffs)
        .where(handoffs.c.escalated_at.is_(None), handoffs.c.ended_at.is_(None))
        .where(handoffs.c.escalate_at <= datetime.now(UTC))
        .order_by(handoffs.c.escalate_at)
        .limit(limit)
    )
    async with engine.connect() as connection:
        return [_alert(row) for row in await connection.execute(query)]


async def claim_escalation(engine: AsyncEngine, handoff_id: str, events: list[OutboxRow]) -> bool:
    """This node escalates the wait (and its webhook deliveries are written with the claim), or another did."""
    async with engine.begin() as connection:
        result = await connection.execute(
            update(handoffs)
            .where(handoffs.c.id == handoff_id, handoffs.c.escalated_at.is_(None), handoffs.c.ended_at.is_(None))
            .values(escalated_at=datetime.now(UTC))
        )
        if result.rowcount and events:
            await connection.execute(webhook_deliveries.insert(), events)
    return bool(result.rowcount)
