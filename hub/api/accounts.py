"""Onboarding and seats: platform admins register tenants, owners add their team within the plan's seats."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.api.bodies import read_json, string_field
from hub.api.tenancy import managed_tenant
from hub.auth.permissions import USERS_MANAGE
from hub.auth.request import require_principal
from hub.errors import Forbidden, InvalidInput
from hub.node import Node
from hub.plans import PLAN_IDS
from hub.store.credits import this_month
from hub.store.users import list_staff

TEAM_ROLES = ("agent", "owner")
MAX_ORIGINS = 50


def _staff_json(user: Any) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role, "disabled": user.disabled}


async def register_tenant(request: Request) -> Response:
    """Platform admin: a tenant with its plan, owner account, first widget key and default persona."""
    node: Node = request.state.node
    principal = await require_principal(request, node, request.method)
    if not principal.is_platform_admin:
        raise Forbidden("only platform admins register tenants")
    body = await read_json(request, 16 * 1024)
    name = string_field(body, "name", max_len=200)
    business_id = string_field(body, "business_id", max_len=64)
    plan = body.get("plan", "starter")
    if plan not in PLAN_IDS:
        raise InvalidInput(f"'plan' must be one of {', '.join(PLAN_IDS)}")
    origins = body.get("origins", [])
    if not isinstance(origins, list) or len(origins) > MAX_ORIGINS or not all(isinstance(o, str) for o in origins):
        raise InvalidInput(f"'origins' must be a list of up to {MAX_ORIGINS} origin strings")
    owner = body.get("owner")
    if not isinstance(owner, dict):
        raise InvalidInput("'owner' must be an object with email, password and name")
    opened = await node.accounts.register_tenant(
        name=name,
        business_id=business_id,
        origins=origins,
        plan=plan,
        owner_email=string_field(owner, "email", max_len=254),
        owner_password=string_field(owner, "password", max_len=1024),
        owner_name=string_field(owner, "name", max_len=200, required=False),
    )
    assert opened.owner is not None
    return JSONResponse(
        {
            "uuid": opened.tenant.id,
            "business_id": opened.tenant.business_id,
            "name": opened.tenant.name,
            "plan": opened.tenant.plan,
            "owner": _staff_json(opened.owner),
            "widget_key": opened.widget_key.key,
            "persona": opened.persona.to_json(),
        },
        status_code=201,
    )


async def list_team(request: Request) -> Response:
    node: Node = request.state.node
    tenant = await managed_tenant(request, node, USERS_MANAGE)
    team = await list_staff(node.engine, tenant.id)
    seats = await node.accounts.seats(tenant)
    return JSONResponse(
        {"plan": tenant.plan, "seats": seats.limit, "seats_taken": seats.taken,
         "users": [_staff_json(user) for user in team]}
    )  # fmt: skip


async def add_teammate(request: Request) -> Response:
    """An owner adds an agent (or another owner) within the plan's seats: 409 ``seat_limit`` beyond them."""
    node: Node = request.state.node
    tenant = await managed_tenant(request, node, USERS_MANAGE)
    body = await read_json(request, 16 * 1024)
    role = body.get("role", "agent")
    if role not in TEAM_ROLES:
        raise InvalidInput(f"'role' must be one of {', '.join(TEAM_ROLES)}")
    user = await node.accounts.add_teammate(
        tenant,
        email=string_field(body, "email", max_len=254),
        password=string_field(body, "password", max_len=1024),
        role=role,
        name=string_field(body, "name", max_len=200, required=False),
    )
    return JSONResponse(_staff_json(user), status_code=201)


async def usage_overview(request: Request) -> Response:
    """This month's AI credits against the plan's (one credit = one AI reply), for the portal."""
    node: Node = request.state.node
    tenant = await managed_tenant(request, node, USERS_MANAGE)
    credits = await node.accounts.credits(tenant)
    return JSONResponse(
        {
            "plan": credits.plan,
            "month": this_month(),
            "unit": "one AI reply",
            "ai_credits_used": credits.used,
            "ai_credits_included": credits.included,
            "ai_credits_remaining": credits.remaining,
            "exhausted": credits.exhausted,
        }
    )
