"""Per-tenant reads are single-flight: many visitors arriving at once cost one read, not one each.

Measured in the token benchmark: 200 replies starting within a second each read the tenant's persona,
credit count and webhook endpoints, and those reads held up the tokens of the replies already streaming.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from sqlalchemy import event

from tests.conftest import RunningHub, visitor

VISITORS = 12


async def test_visitors_arriving_at_once_read_the_tenant_its_persona_credits_and_webhooks_once(
    hub: RunningHub,
) -> None:
    tenant = await hub.tenant()
    tables = ("tenants", "personas", "credit_usage", "webhook_endpoints")
    reads: Counter[str] = Counter()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            for table in tables:
                if f"FROM {table}" in statement:
                    reads[table] += 1

    event.listen(hub.node.engine.sync_engine, "before_cursor_execute", count)
    try:

        async def one(index: int) -> None:
            async with visitor(hub.ws, tenant.id) as client:
                await client.say(f"hello {index}")
                await client.ai_reply()

        await asyncio.gather(*(one(index) for index in range(VISITORS)))
    finally:
        event.remove(hub.node.engine.sync_engine, "before_cursor_execute", count)
    assert reads["tenants"] == 1, reads
    assert reads["webhook_endpoints"] == 1, reads
    # One read by the tenant cache (the widget shows the persona's name), one by the reply meter.
    assert reads["personas"] == 2, reads
    assert reads["credit_usage"] == 1, reads
