"""Which tenant an authenticated management call acts on: the caller's own, or, for a platform admin,
the one named by ``?business_id=`` (the rule itself is ``Accounts.acting_tenant``)."""

from __future__ import annotations

from starlette.requests import Request

from hub import logs
from hub.api.bodies import read_query
from hub.api.models import ManagedQuery
from hub.auth.permissions import Principal
from hub.auth.request import require_principal
from hub.node import Services
from hub.store.models import Tenant


async def managed_tenant(request: Request, services: Services, permission: str) -> Tenant:
    return (await managed_by(request, services, permission))[1]


async def managed_by(request: Request, services: Services, permission: str) -> tuple[Principal, Tenant]:
    """The caller and the tenant the call acts on."""
    principal = await require_principal(request, services.engine, request.method)
    business_id = read_query(request, ManagedQuery).business_id
    tenant = await services.accounts.acting_tenant(principal, business_id, permission)
    logs.tenant_id.set(tenant.id)
    return principal, tenant
