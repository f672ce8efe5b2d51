"""``/api/personas``: a tenant's personas (``personas.manage``); field names as the product page spells them."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.api.bodies import read_json, text_param
from hub.api.tenancy import managed_tenant
from hub.auth.permissions import PERSONAS_MANAGE
from hub.errors import InvalidInput, NotFound
from hub.node import Node
from hub.store.personas import create_persona, delete_persona, get_persona, list_personas, update_persona

# body field -> (column, max length, may be empty)
FIELDS = {
    "name": ("name", 60, False),
    "description": ("description", 500, True),
    "tone": ("tone", 100, True),
    "systemPrompt": ("system_prompt", 8000, False),
}
BODY_BYTES = 32 * 1024


def _fields(body: dict[str, Any], *, complete: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field, (column, max_len, may_be_empty) in FIELDS.items():
        if field not in body:
            if complete and not may_be_empty:
                raise InvalidInput(f"'{field}' is required")
            if complete:
                values[column] = ""
            continue
        value = body[field]
        if not isinstance(value, str):
            raise InvalidInput(f"'{field}' must be a string")
        value = value.strip()
        if not value and not may_be_empty:
            raise InvalidInput(f"'{field}' must not be empty")
        if len(value) > max_len:
            raise InvalidInput(f"'{field}' is longer than {max_len} characters")
        values[column] = value
    return values


def _active(body: dict[str, Any]) -> bool:
    active = body.get("active", False)
    if not isinstance(active, bool):
        raise InvalidInput("'active' must be true or false")
    return active


def _persona_id(request: Request) -> str:
    return text_param(request.path_params["persona_id"], "persona_id")[:64]


async def list_all(request: Request) -> Response:
    node: Node = request.state.node
    tenant_id = (await managed_tenant(request, node, PERSONAS_MANAGE)).id
    found = await list_personas(node.engine, tenant_id)
    return JSONResponse({"personas": [persona.to_json() for persona in found]})


async def create(request: Request) -> Response:
    node: Node = request.state.node
    tenant_id = (await managed_tenant(request, node, PERSONAS_MANAGE)).id
    body = await read_json(request, BODY_BYTES)
    persona = await create_persona(node.engine, tenant_id, _fields(body, complete=True), _active(body))
    node.tenants.forget(tenant_id)  # the widget shows the active persona's name
    node.replies.meter.forget_persona(tenant_id)
    return JSONResponse(persona.to_json(), status_code=201)


async def read(request: Request) -> Response:
    node: Node = request.state.node
    tenant_id = (await managed_tenant(request, node, PERSONAS_MANAGE)).id
    persona = await get_persona(node.engine, tenant_id, _persona_id(request))
    if persona is None:
        raise NotFound("no such persona in this tenant")
    return JSONResponse(persona.to_json())


async def change(request: Request) -> Response:
    """PUT and PATCH: the fields sent are changed; ``"active": true`` makes it the tenant's active persona."""
    node: Node = request.state.node
    tenant_id = (await managed_tenant(request, node, PERSONAS_MANAGE)).id
    body = await read_json(request, BODY_BYTES)
    fields = _fields(body, complete=False)
    activate = _active(body)
    if "active" in body and not activate:
        raise InvalidInput("a persona stops being active when another one is activated; send active: true there")
    persona = await update_persona(node.engine, tenant_id, _persona_id(request), fields, activate)
    if persona is None:
        raise NotFound("no such persona in this tenant")
    node.tenants.forget(tenant_id)
    node.replies.meter.forget_persona(tenant_id)
    return JSONResponse(persona.to_json())


async def remove(request: Request) -> Response:
    node: Node = request.state.node
    tenant_id = (await managed_tenant(request, node, PERSONAS_MANAGE)).id
    if not await delete_persona(node.engine, tenant_id, _persona_id(request)):
        raise NotFound("no such persona in this tenant")
    return Response(status_code=204)
