"""``/api/widget-keys``: a tenant's publishable keys and their allowed origins (``widget.manage``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.api.bodies import read_json, text_param
from hub.api.tenancy import managed_tenant
from hub.auth.permissions import WIDGET_MANAGE
from hub.errors import InvalidInput, NotFound
from hub.node import Node
from hub.store.widget_keys import WidgetKey, create_widget_key, list_widget_keys, revoke_widget_key

MAX_ORIGINS = 50


def key_json(key: WidgetKey) -> dict[str, Any]:
    return {"key": key.key, "mode": key.mode, "origins": list(key.origins), "revoked": key.revoked}


async def _tenant_id(request: Request, node: Node) -> str:
    return (await managed_tenant(request, node, WIDGET_MANAGE)).id


async def list_keys(request: Request) -> Response:
    node: Node = request.state.node
    tenant_id = await _tenant_id(request, node)
    return JSONResponse({"widget_keys": [key_json(key) for key in await list_widget_keys(node.engine, tenant_id)]})


async def create_key(request: Request) -> Response:
    node: Node = request.state.node
    tenant_id = await _tenant_id(request, node)
    body = await read_json(request, max_bytes=16384)
    origins = body.get("origins")
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins) or len(origins) > MAX_ORIGINS:
        raise InvalidInput(f"'origins' must be a list of up to {MAX_ORIGINS} origin strings")
    mode = body.get("mode", "live")
    if mode not in ("live", "test"):
        raise InvalidInput("'mode' must be live or test")
    async with node.engine.begin() as connection:
        key = await create_widget_key(connection, tenant_id, origins, mode=mode)
    return JSONResponse(key_json(key), status_code=201)


async def revoke_key(request: Request) -> Response:
    node: Node = request.state.node
    tenant_id = await _tenant_id(request, node)
    if not await revoke_widget_key(node.engine, tenant_id, text_param(request.path_params["key"], "key")):
        raise NotFound("no such active widget key in this tenant")
    return Response(status_code=204)
