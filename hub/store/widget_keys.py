"""Publishable widget keys (``pk_live_…`` / ``pk_test_…``), each with its own allowed origins."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.errors import InvalidInput
from hub.origins import normalise_origin_pattern
from hub.store.tables import widget_keys


@dataclass(frozen=True)
class WidgetKey:
    key: str
    tenant_id: str
    mode: str
    origins: tuple[str, ...]
    revoked: bool


async def create_widget_key(
    connection: AsyncConnection, tenant_id: str, origins: list[str] | tuple[str, ...], mode: str = "live"
) -> WidgetKey:
    """On the caller's connection, so a new tenant's first key commits with the tenant."""
    if mode not in ("live", "test"):
        raise InvalidInput("mode must be live or test")
    clean = tuple(dict.fromkeys(normalise_origin_pattern(origin) for origin in origins))
    key = f"pk_{mode}_{secrets.token_urlsafe(24)}"
    await connection.execute(
        widget_keys.insert().values(
            key=key, tenant_id=tenant_id, mode=mode, origins=list(clean), created_at=datetime.now(UTC)
        )
    )
    return WidgetKey(key, tenant_id, mode, clean, False)


async def get_widget_key(engine: AsyncEngine, key: str) -> WidgetKey | None:
    async with engine.connect() as connection:
        row = (await connection.execute(select(widget_keys).where(widget_keys.c.key == key))).first()
    if row is None:
        return None
    return WidgetKey(row.key, row.tenant_id, row.mode, tuple(row.origins or ()), row.revoked_at is not None)


async def list_widget_keys(engine: AsyncEngine, tenant_id: str) -> list[WidgetKey]:
    query = select(widget_keys).where(widget_keys.c.tenant_id == tenant_id).order_by(widget_keys.c.created_at)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [WidgetKey(r.key, r.tenant_id, r.mode, tuple(r.origins or ()), r.revoked_at is not None) for r in rows]


async def revoke_widget_key(engine: AsyncEngine, tenant_id: str, key: str) -> bool:
    async with engine.begin() as connection:
        result = await connection.execute(
            update(widget_keys)
            .where(widget_keys.c.tenant_id == tenant_id, widget_keys.c.key == key, widget_keys.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    return bool(result.rowcount)
