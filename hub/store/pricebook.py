"""The pricebook, versioned: drafts, published versions, and which one is current (the newest published).

The published pricebook is the source of truth for every live number (plans, limits, the built-in
responder's answers); a version never changes once published, a new one supersedes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.errors import Conflict, NotFound
from hub.plans import Plan, Pricebook
from hub.store.tables import pricebook_versions

SEED_LABEL = "pricebook-seed V1"
SEED_PLANS: tuple[dict[str, Any], ...] = (
    {
        "id": "starter",
        "name": "Starter",
        "price_usd_month": 79,
        "ai_credits_month": 15_000,
        "seats": 3,
        "integrations": 1,
        "support": "standard",
    },
    {
        "id": "pro",
        "name": "Pro",
        "price_usd_month": 249,
        "ai_credits_month": 75_000,
        "seats": 10,
        "integrations": 3,
        "support": "priority",
    },
    {
        "id": "enterprise",
        "name": "Enterprise",
        "price_usd_month": 899,
        "ai_credits_month": 250_000,
        "seats": None,
        "integrations": 10,
        "support": "dedicated",
    },
)


def _pricebook(row: Any) -> Pricebook:
    plans = msgspec.convert(row.plans, tuple[Plan, ...])
    return Pricebook(row.version, row.label, plans, row.created_at, row.published_at)


async def current_pricebook(engine: AsyncEngine) -> Pricebook | None:
    query = (
        select(pricebook_versions)
        .where(pricebook_versions.c.published_at.is_not(None))
        .order_by(pricebook_versions.c.published_at.desc(), pricebook_versions.c.version.desc())
        .limit(1)
    )
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    return _pricebook(row) if row is not None else None


async def get_pricebook(engine: AsyncEngine, version: int) -> Pricebook | None:
    query = select(pricebook_versions).where(pricebook_versions.c.version == version)
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    return _pricebook(row) if row is not None else None


async def create_draft(engine: AsyncEngine, label: str, plans: Sequence[Plan], created_by: str) -> Pricebook:
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        # Numbers are given out in order; the primary key settles a race between two admins.
        latest = (await connection.execute(select(func.max(pricebook_versions.c.version)))).scalar() or 0
        version = latest + 1
        await connection.execute(
            pricebook_versions.insert().values(
                version=version,
                label=label or f"V{version}",
                plans=msgspec.to_builtins(plans),
                created_by=created_by,
                created_at=now,
                published_at=None,
            )
        )
    return Pricebook(version, label or f"V{version}", tuple(plans), now, None)


async def publish(engine: AsyncEngine, version: int) -> Pricebook:
    async with engine.begin() as connection:
        result = await connection.execute(
            update(pricebook_versions)
            .where(pricebook_versions.c.version == version, pricebook_versions.c.published_at.is_(None))
            .values(published_at=datetime.now(UTC))
        )
        if not result.rowcount:
            exists = (
                await connection.execute(
                    select(pricebook_versions.c.version).where(pricebook_versions.c.version == version)
                )
            ).first()
            if exists is None:
                raise NotFound(f"no pricebook version {version}")
            raise Conflict(f"pricebook version {version} is already published; create a new draft to change it")
    published = await get_pricebook(engine, version)
    assert published is not None
    return published
