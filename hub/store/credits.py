"""AI credits: what a tenant's AI replies used this month, against what its plan includes.

The unit: **one AI credit is one AI reply** stored in a conversation (complete, or cut short by a
takeover after it started). Failed replies (the provider could not answer) cost nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.store.tables import credit_usage


def this_month(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m")


async def used_this_month(connection: AsyncConnection, tenant_id: str) -> int:
    query = select(credit_usage.c.used).where(
        credit_usage.c.tenant_id == tenant_id, credit_usage.c.month == this_month()
    )
    return int((await connection.execute(query)).scalar() or 0)


async def usage(engine: AsyncEngine, tenant_id: str) -> int:
    async with engine.connect() as connection:
        return await used_this_month(connection, tenant_id)


async def usage_of_every_tenant(engine: AsyncEngine) -> dict[str, int]:
    """This month's credits per tenant id (tenants that used none are absent)."""
    query = select(credit_usage.c.tenant_id, credit_usage.c.used).where(credit_usage.c.month == this_month())
    async with engine.connect() as connection:
        return {tenant_id: int(used) for tenant_id, used in await connection.execute(query)}


async def spend(engine: AsyncEngine, tenant_id: str, credits: int = 1) -> None:
    insert = (pg_insert if engine.dialect.name == "postgresql" else sqlite_insert)(credit_usage)
    statement = insert.values(tenant_id=tenant_id, month=this_month(), used=credits).on_conflict_do_update(
        index_elements=["tenant_id", "month"], set_={"used": credit_usage.c.used + credits}
    )
    async with engine.begin() as connection:
        await connection.execute(statement)
