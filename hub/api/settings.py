"""``/api/settings``: what a tenant decides about its own front office (``users.manage``: owners, admins)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse, read_body
from hub.api.tenancy import managed_tenant
from hub.auth.permissions import USERS_MANAGE
from hub.errors import TenantNotFound
from hub.node import Services
from hub.store.tenants import set_tenant_settings
from hub.tenant_settings import SettingsChange, settings_of

SETTINGS_BODY_BYTES = 4096


async def read(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, USERS_MANAGE)
    return StructResponse(settings_of(tenant))


async def change(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, USERS_MANAGE)
    changed = (await read_body(request, SettingsChange, SETTINGS_BODY_BYTES)).applied_to(settings_of(tenant))
    if not await set_tenant_settings(services.engine, tenant.id, msgspec.to_builtins(changed)):
        raise TenantNotFound("unknown tenant")
    services.forget_tenant(tenant.id)  # every node reads it again from its next use
    return StructResponse(changed)
