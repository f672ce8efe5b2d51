"""``/api/widget-keys``: a tenant's publishable keys and their allowed origins (``widget.manage``)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse, read_body, read_path
from hub.api.models import Origins, PathId
from hub.api.tenancy import managed_tenant
from hub.auth.permissions import WIDGET_MANAGE
from hub.errors import NotFound
from hub.node import Services
from hub.store import widget_keys

WIDGET_KEY_BODY_BYTES = 16 * 1024
KeyMode = Annotated[Literal["live", "test"], Meta(description="`pk_live_…` or `pk_test_…`.")]


class WidgetKeyRequest(msgspec.Struct):
    """A new key's allowed origins and mode."""

    origins: Origins
    mode: KeyMode = "live"


class WidgetKey(msgspec.Struct):
    """A publishable key: the widget sends it as `X-Widget-Key`, from an origin the key allows."""

    key: Annotated[str, Meta(description="pk_live_… or pk_test_…")]
    mode: KeyMode
    origins: list[str]
    revoked: bool

    @classmethod
    def of(cls, key: widget_keys.WidgetKey) -> WidgetKey:
        mode: Literal["live", "test"] = "test" if key.mode == "test" else "live"
        return cls(key.key, mode, list(key.origins), key.revoked)


class WidgetKeyList(msgspec.Struct):
    widget_keys: Annotated[list[WidgetKey], Meta(description="The keys, revoked ones included, oldest first.")]


class KeyPath(msgspec.Struct):
    key: PathId


async def list_keys(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, WIDGET_MANAGE)
    found = await widget_keys.list_widget_keys(services.engine, tenant.id)
    return StructResponse(WidgetKeyList([WidgetKey.of(key) for key in found]))


async def create_key(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, WIDGET_MANAGE)
    body = await read_body(request, WidgetKeyRequest, WIDGET_KEY_BODY_BYTES)
    async with services.engine.begin() as connection:
        key = await widget_keys.create_widget_key(connection, tenant.id, body.origins, mode=body.mode)
    return StructResponse(WidgetKey.of(key), status_code=201)


async def revoke_key(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, WIDGET_MANAGE)
    if not await widget_keys.revoke_widget_key(services.engine, tenant.id, read_path(request, KeyPath).key):
        raise NotFound("no such active widget key in this tenant")
    return Response(status_code=204)
