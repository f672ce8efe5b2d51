"""Analytics: ``GET /api/metrics/business`` (a tenant's own) and ``GET /api/analytics/overview``
(platform admins: all tenants, and each tenant's share)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.api.tenancy import managed_tenant_id
from hub.auth.permissions import USERS_MANAGE
from hub.auth.request import require_principal
from hub.errors import Forbidden, InvalidInput
from hub.node import Node
from hub.store.analytics import MAX_DAYS, conversation_metrics
from hub.store.credits import this_month, usage
from hub.store.models import Tenant
from hub.store.tables import credit_usage, tenants


def _days(request: Request) -> int:
    raw = request.query_params.get("days", "30")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_DAYS:
        raise InvalidInput(f"'days' must be a whole number from 1 to {MAX_DAYS}")
    return int(raw)


async def credits_of(node: Node, tenant: Tenant) -> dict[str, Any]:
    pricebook = node.pricebook.current
    plan = pricebook.plan(tenant.plan) if pricebook is not None else None
    return {
        "plan": tenant.plan,
        "used": await usage(node.engine, tenant.id) + node.replies.meter.unwritten(tenant.id),
        "included": plan.ai_credits_month if plan is not None else None,
    }


async def business_metrics(request: Request) -> Response:
    node: Node = request.state.node
    tenant_id = await managed_tenant_id(request, node, USERS_MANAGE)
    days = _days(request)
    tenant = await node.tenants.get(tenant_id)
    assert tenant is not None
    metrics = await conversation_metrics(node.engine, [tenant_id], days)
    return JSONResponse({"business_id": tenant.business_id, **metrics, "credits": await credits_of(node, tenant)})


async def overview(request: Request) -> Response:
    node: Node = request.state.node
    principal = await require_principal(request, node)
    if not principal.is_platform_admin:
        raise Forbidden("only platform admins see every tenant")
    days = _days(request)
    async with node.engine.connect() as connection:
        rows = (
            await connection.execute(select(tenants.c.id, tenants.c.business_id, tenants.c.name, tenants.c.plan))
        ).all()
        used = dict(
            (await connection.execute(
                select(credit_usage.c.tenant_id, credit_usage.c.used).where(credit_usage.c.month == this_month())
            )).all()
        )  # fmt: skip
    metrics = await conversation_metrics(node.engine, None, days)
    pricebook = node.pricebook.current
    per_tenant = []
    for row in rows:
        plan = pricebook.plan(row.plan) if pricebook is not None else None
        per_tenant.append(
            {
                "business_id": row.business_id,
                "name": row.name,
                "plan": row.plan,
                "used": used.get(row.id, 0) + node.replies.meter.unwritten(row.id),
                "included": plan.ai_credits_month if plan is not None else None,
            }
        )
    return JSONResponse({**metrics, "tenants": len(rows), "credits": per_tenant})
