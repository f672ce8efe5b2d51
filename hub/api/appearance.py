"""``/api/widget-appearance``: how the tenant's widget looks (``widget.manage``: owners, admins).

A change is stored in the tenant's config, every node drops its caches of the tenant, and every open
widget of the tenant, on every node, gets the new state in a ``widget`` frame (``hub.chat.widgets``).
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse, read_body
from hub.api.tenancy import managed_tenant
from hub.appearance import AppearanceChange, WidgetAppearance, appearance_of
from hub.auth.permissions import WIDGET_MANAGE
from hub.errors import TenantNotFound
from hub.node import Services
from hub.store.tenants import set_tenant_config

APPEARANCE_BODY_BYTES = 4096


async def read(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, WIDGET_MANAGE)
    return StructResponse(appearance_of(tenant))


async def change(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, WIDGET_MANAGE)
    body = await read_body(request, AppearanceChange, APPEARANCE_BODY_BYTES)
    changed: WidgetAppearance = body.applied_to(appearance_of(tenant))
    if not await set_tenant_config(services.engine, tenant.id, "appearance", msgspec.to_builtins(changed)):
        raise TenantNotFound("unknown tenant")
    services.forget_tenant(tenant.id)  # every node, at once: new bundles and sockets get the new appearance
    await services.widgets.announce(tenant.id)  # and every open widget shows it
    return StructResponse(changed)
