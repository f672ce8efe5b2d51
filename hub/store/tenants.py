"""Tenant rows: created by the CLI and the admin API (``hub.accounts``), read when a socket connects."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.errors import Conflict, InvalidInput
from hub.origins import normalise_origin_pattern
from hub.plans import PLAN_IDS
from hub.store.models import Tenant
from hub.store.personas import insert_default_persona
from hub.store.tables import tenants

BUSINESS_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$"
BUSINESS_ID = re.compile(BUSINESS_ID_PATTERN)


def _tenant(row: Any) -> Tenant:
    return Tenant(
        id=row.id,
        business_id=row.business_id,
        name=row.name,
        origins=tuple(row.origins or ()),
        config=dict(row.config or {}),
        disabled=bool(row.disabled),
        plan=row.plan,
    )


async def create_tenant(
    connection: AsyncConnection,
    *,
    name: str,
    business_id: str,
    origins: list[str] | tuple[str, ...] = (),
    config: dict[str, Any] | None = None,
    plan: str = "starter",
) -> Tenant:
    """The tenant row and its default persona, on the caller's connection (its transaction decides)."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("name must be 1 to 200 characters")
    if not BUSINESS_ID.match(business_id):
        raise InvalidInput("business_id must be 3-64 lowercase letters, digits or '-' (a slug like 'acme-shop')")
    if plan not in PLAN_IDS:
        raise InvalidInput(f"plan must be one of {', '.join(PLAN_IDS)}")
    clean_origins = tuple(dict.fromkeys(normalise_origin_pattern(origin) for origin in origins))
    tenant = Tenant(
        id=str(uuid.uuid4()),
        business_id=business_id,
        name=name,
        origins=clean_origins,
        config=config or {},
        plan=plan,
    )
    try:
        await connection.execute(
            tenants.insert().values(
                id=tenant.id,
                business_id=tenant.business_id,
                name=tenant.name,
                origins=list(tenant.origins),
                config=tenant.config,
                disabled=False,
                plan=tenant.plan,
                created_at=datetime.now(UTC),
            )
        )
    except IntegrityError:
        raise Conflict(f"a tenant with business_id {business_id!r} already exists") from None
    await insert_default_persona(connection, tenant.id, tenant.name, tenant.config)
    return tenant


async def get_tenant(engine: AsyncEngine, tenant_id: str) -> Tenant | None:
    async with engine.connect() as connection:
        row = (await connection.execute(select(tenants).where(tenants.c.id == tenant_id))).first()
    return _tenant(row) if row is not None else None


async def get_tenant_by_business_id(engine: AsyncEngine, business_id: str) -> Tenant | None:
    async with engine.connect() as connection:
        row = (await connection.execute(select(tenants).where(tenants.c.business_id == business_id))).first()
    return _tenant(row) if row is not None else None


async def list_tenants(engine: AsyncEngine) -> list[Tenant]:
    async with engine.connect() as connection:
        return [_tenant(row) for row in await connection.execute(select(tenants).order_by(tenants.c.created_at))]


async def set_tenant_settings(engine: AsyncEngine, tenant_id: str, settings: dict[str, Any]) -> bool:
    """Store a tenant's settings (``config.settings``); False when there is no such tenant."""
    return await set_tenant_config(engine, tenant_id, "settings", settings)


async def set_tenant_config(engine: AsyncEngine, tenant_id: str, key: str, value: Any) -> bool:
    """Store one part of a tenant's ``config`` (``settings``, ``appearance``), leaving the others as they are;
    False when there is no such tenant. The row is locked while it is rewritten, so two parts saved at the same
    moment do not undo each other."""
    async with engine.begin() as connection:
        config = (
            await connection.execute(select(tenants.c.config).where(tenants.c.id == tenant_id).with_for_update())
        ).scalar()
        if config is None:
            return False
        await connection.execute(
            tenants.update().where(tenants.c.id == tenant_id).values(config={**config, key: value})
        )
    return True
