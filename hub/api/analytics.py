"""Analytics: ``GET /api/metrics/business`` (a tenant's own) and ``GET /api/analytics/overview``
(platform admins: all tenants, and each tenant's share)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.accounts import Credits
from hub.api.tenancy import managed_tenant
from hub.auth.permissions import USERS_MANAGE
from hub.auth.request import require_principal
from hub.errors import Forbidden, InvalidInput
from hub.node import Node
from hub.store.analytics import MAX_DAYS, conversation_metrics


def _days(request: Request) -> int:
    raw = request.query_params.get("days", "30")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_DAYS:
        raise InvalidInput(f"'days' must be a whole number from 1 to {MAX_DAYS}")
    return int(raw)


def credits_json(credits: Credits) -> dict[str, Any]:
    return {"plan": credits.plan, "used": credits.used, "included": credits.included}


async def business_metrics(request: Request) -> Response:
    node: Node = request.state.node
    tenant = await managed_tenant(request, node, USERS_MANAGE)
    days = _days(request)
    metrics = await conversation_metrics(node.engine, [tenant.id], days)
    credits = await node.accounts.credits(tenant)
    return JSONResponse({"business_id": tenant.business_id, **metrics, "credits": credits_json(credits)})


async def overview(request: Request) -> Response:
    node: Node = request.state.node
    principal = await require_principal(request, node)
    if not principal.is_platform_admin:
        raise Forbidden("only platform admins see every tenant")
    days = _days(request)
    every = await node.accounts.credits_of_every_tenant()
    metrics = await conversation_metrics(node.engine, None, days)
    per_tenant = [
        {"business_id": tenant.business_id, "name": tenant.name, **credits_json(credits)} for tenant, credits in every
    ]
    return JSONResponse({**metrics, "tenants": len(every), "credits": per_tenant})
