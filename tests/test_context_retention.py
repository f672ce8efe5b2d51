"""What a visitor's browser reported is kept ``HUB_VISITOR_CONTEXT_RETENTION_DAYS`` after they were last seen:
older contexts are deleted in bounded batches, by each one's whole key (no tenant loses another's), on SQLite
and PostgreSQL; every node sweeps by itself, supervised, and 0 keeps everything."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.chat.context_retention import ContextRetention
from hub.metrics import Metrics
from hub.settings import Settings
from hub.store.database import migrate, open_engine
from hub.store.tables import visitor_contexts
from hub.store.visits import delete_stale_contexts
from tests.accounts import create_tenant
from tests.conftest import serve_hub


async def remember(engine: AsyncEngine, tenant_id: str, session_id: str, days_ago: float | None) -> None:
    """A visitor context last seen ``days_ago`` (None: nothing but the first sighting, 120 days ago)."""
    now = datetime.now(UTC)
    seen = None if days_ago is None else now - timedelta(days=days_ago)
    async with engine.begin() as connection:
        await connection.execute(
            visitor_contexts.insert().values(
                tenant_id=tenant_id,
                session_id=session_id,
                first_seen_at=seen or now - timedelta(days=120),
                last_seen_at=seen,
                visits=1,
                pages=[],
                version=1,
            )
        )


async def kept(engine: AsyncEngine, *tenant_ids: str) -> set[tuple[str, str]]:
    query = select(visitor_contexts.c.tenant_id, visitor_contexts.c.session_id).where(
        visitor_contexts.c.tenant_id.in_(tenant_ids)
    )
    async with engine.connect() as connection:
        return {(row.tenant_id, row.session_id) for row in (await connection.execute(query)).all()}


def deleted_count(metrics: Metrics) -> float:
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            if sample.name == "hub_visitor_context_deleted_total":
                return sample.value
    raise AssertionError("hub_visitor_context_deleted_total is not served")


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_contexts_last_seen_before_the_retention_go_in_bounded_batches_and_no_other_tenants_row_goes(
    database: str, sqlite_url: str, postgres_url: str
) -> None:
    url = sqlite_url if database == "sqlite" else postgres_url
    engine = open_engine(url)
    try:
        await migrate(engine)
        shop, other = [
            await create_tenant(engine, name=name, business_id=f"{name.lower()}-{uuid.uuid4().hex[:10]}")
            for name in ("Shop", "Other")
        ]
        same = f"s_{uuid.uuid4().hex}"  # one session id in both tenants: only the shop's is old
        for tenant_id, session_id, days in (
            (shop.id, same, 100),
            (shop.id, "s_a", 95),
            (shop.id, "s_b", 10),
            (shop.id, "s_c", None),
            (shop.id, "s_d", 200),
            (other.id, same, 1),
            (other.id, "s_e", 91),
        ):
            await remember(engine, tenant_id, session_id, days)

        before = datetime.now(UTC) - timedelta(days=90)
        assert await delete_stale_contexts(engine, before, limit=2) == 2, "a batch is bounded"
        metrics = Metrics()
        retention = ContextRetention(engine, 90, timeout_s=5, metrics=metrics)
        retention.batch = 2
        assert await retention.sweep() == 3, "the sweep goes on batch after batch until none is left"
        assert await kept(engine, shop.id, other.id) == {(shop.id, "s_b"), (other.id, same)}
        assert deleted_count(metrics) == 3
        assert await retention.sweep() == 0
    finally:
        await engine.dispose()


async def test_every_node_sweeps_by_itself_and_a_retention_of_0_keeps_every_context(
    settings: Settings, monkeypatch: Any
) -> None:
    monkeypatch.setattr(ContextRetention, "every_s", 0.1)
    async with serve_hub(dataclasses.replace(settings, visitor_context_retention_days=30)) as hub:
        tenant = await hub.tenant()
        await remember(hub.node.engine, tenant.id, "s_old", 31)
        await remember(hub.node.engine, tenant.id, "s_recent", 29)
        for _ in range(100):
            if await kept(hub.node.engine, tenant.id) == {(tenant.id, "s_recent")}:
                break
            await asyncio.sleep(0.05)
        assert await kept(hub.node.engine, tenant.id) == {(tenant.id, "s_recent")}
        assert deleted_count(hub.node.metrics) == 1
    async with serve_hub(dataclasses.replace(settings, visitor_context_retention_days=0)) as hub:
        await remember(hub.node.engine, tenant.id, "s_ancient", 3000)
        await asyncio.sleep(0.5)  # five sweeps' time, if anything swept
        assert await kept(hub.node.engine, tenant.id) == {(tenant.id, "s_recent"), (tenant.id, "s_ancient")}
