"""Onboarding and seats: platform admins register tenants, owners add their team within the plan's seats."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse, read_body
from hub.api.models import Email, NewPassword, Origins, PersonName
from hub.api.personas import Persona
from hub.api.tenancy import managed_tenant
from hub.auth.permissions import USERS_MANAGE
from hub.auth.request import require_principal
from hub.errors import Forbidden
from hub.node import Services
from hub.plans import PlanId
from hub.store.credits import this_month
from hub.store.tenants import BUSINESS_ID_PATTERN
from hub.store.users import User, list_staff

ACCOUNT_BODY_BYTES = 16 * 1024
StaffRole = Literal["agent", "owner", "admin"]


class OwnerRequest(msgspec.Struct):
    """The new tenant's first owner account."""

    email: Email
    password: NewPassword
    name: PersonName | None = None


class TenantRequest(msgspec.Struct, kw_only=True):
    """A tenant to register, with its owner."""

    name: Annotated[str, Meta(min_length=1, max_length=200, pattern=r"\S", description="The business's name.")]
    business_id: Annotated[
        str, Meta(pattern=BUSINESS_ID_PATTERN, description="3-64 lowercase letters, digits or '-', e.g. acme-shop.")
    ]
    plan: PlanId = "starter"
    origins: Origins = msgspec.field(default_factory=list)
    owner: OwnerRequest


class StaffUser(msgspec.Struct, kw_only=True):
    id: str
    email: str
    name: str
    role: StaffRole
    disabled: bool

    @classmethod
    def of(cls, user: User) -> StaffUser:
        return msgspec.convert(
            {"id": user.id, "email": user.email, "name": user.name, "role": user.role, "disabled": user.disabled}, cls
        )


class RegisteredTenant(msgspec.Struct, kw_only=True):
    """A registered tenant, ready to use."""

    uuid: str
    business_id: str
    name: str
    plan: PlanId
    owner: StaffUser
    widget_key: Annotated[str, Meta(description="The first publishable key (`pk_live_…`), for the tenant's origins.")]
    persona: Persona


class Team(msgspec.Struct, kw_only=True):
    plan: PlanId
    seats: Annotated[int | None, Meta(description="The plan's seats; null = unlimited.")]
    seats_taken: Annotated[int, Meta(description="Staff accounts that are not disabled.")]
    seats_invited: Annotated[int, Meta(description="Live invitations: each holds a seat until accepted or revoked.")]
    users: list[StaffUser]


class TeammateRequest(msgspec.Struct, kw_only=True):
    """A new agent or owner of the tenant."""

    email: Email
    password: NewPassword
    name: PersonName | None = None
    role: Literal["agent", "owner"] = "agent"


class Usage(msgspec.Struct, kw_only=True):
    """This month's AI credits against the plan's."""

    plan: PlanId
    month: Annotated[str, Meta(description="YYYY-MM (UTC)")]
    unit: Annotated[Literal["one AI reply"], Meta(description="What one credit is.")] = "one AI reply"
    ai_credits_used: int
    ai_credits_included: int
    ai_credits_remaining: int
    exhausted: bool


async def register_tenant(request: Request) -> Response:
    """Platform admin: a tenant with its plan, owner account, first widget key and default persona."""
    services: Services = request.state.services
    principal = await require_principal(request, services.engine, request.method)
    if not principal.is_platform_admin:
        raise Forbidden("only platform admins register tenants")
    body = await read_body(request, TenantRequest, ACCOUNT_BODY_BYTES)
    opened = await services.accounts.register_tenant(
        name=body.name,
        business_id=body.business_id,
        origins=body.origins,
        plan=body.plan,
        owner_email=body.owner.email,
        owner_password=body.owner.password,
        owner_name=body.owner.name or "",
    )
    assert opened.owner is not None
    answer = msgspec.convert(
        {
            "uuid": opened.tenant.id,
            "business_id": opened.tenant.business_id,
            "name": opened.tenant.name,
            "plan": opened.tenant.plan,
            "owner": StaffUser.of(opened.owner),
            "widget_key": opened.widget_key.key,
            "persona": Persona.of(opened.persona),
        },
        RegisteredTenant,
        from_attributes=True,
    )
    return StructResponse(answer, status_code=201)


async def list_team(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, USERS_MANAGE)
    team = await list_staff(services.engine, tenant.id)
    seats = await services.accounts.seats(tenant)
    now = datetime.now(UTC)
    fields = {
        "plan": tenant.plan,
        "seats": seats.limit,
        "seats_taken": seats.taken,
        "seats_invited": sum(invite.live(now) for invite in await services.team.invites(tenant)),
        "users": [StaffUser.of(user) for user in team],
    }
    return StructResponse(msgspec.convert(fields, Team, from_attributes=True))


async def add_teammate(request: Request) -> Response:
    """An owner adds an agent (or another owner) within the plan's seats: 409 ``seat_limit`` beyond them."""
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, USERS_MANAGE)
    body = await read_body(request, TeammateRequest, ACCOUNT_BODY_BYTES)
    user = await services.accounts.add_teammate(
        tenant, email=body.email, password=body.password, role=body.role, name=body.name or ""
    )
    return StructResponse(StaffUser.of(user), status_code=201)


async def usage_overview(request: Request) -> Response:
    """This month's AI credits against the plan's (one credit = one AI reply), for the portal."""
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, USERS_MANAGE)
    credits = await services.accounts.credits(tenant)
    fields = {
        "plan": credits.plan,
        "month": this_month(),
        "ai_credits_used": credits.used,
        "ai_credits_included": credits.included,
        "ai_credits_remaining": credits.remaining,
        "exhausted": credits.exhausted,
    }
    return StructResponse(msgspec.convert(fields, Usage))
