"""``/api/webhooks``: a tenant's webhook endpoints, their delivery log, redelivery (``webhooks.manage``).

Endpoints count against the plan's standard integrations (409 ``integration_limit`` beyond them).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.api.bodies import read_json, text_param
from hub.api.tenancy import managed_tenant
from hub.auth.permissions import WEBHOOKS_MANAGE
from hub.errors import Conflict, InvalidInput, NotFound
from hub.node import Node
from hub.store.webhooks import (
    EVENTS,
    count_endpoints,
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    list_deliveries,
    list_endpoints,
    redeliver,
    update_endpoint,
)
from hub.webhooks.guard import is_public


class IntegrationLimitReached(Conflict):
    code = "integration_limit"


def _url(raw: Any, allow_private: bool) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > 2000:
        raise InvalidInput("'url' must be an http(s) URL of at most 2000 characters")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise InvalidInput("'url' must be an http(s) URL with a host and without credentials")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None and not allow_private and not is_public(str(literal)):
        raise InvalidInput("'url' points to a private or internal address (HUB_WEBHOOKS_ALLOW_PRIVATE=1 allows it)")
    return raw


def _events(raw: Any) -> list[str]:
    if not isinstance(raw, list) or not raw or not all(isinstance(e, str) and e in EVENTS for e in raw):
        raise InvalidInput(f"'events' must be a non-empty list of: {', '.join(EVENTS)}")
    return list(dict.fromkeys(raw))


def _description(raw: Any) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str) or len(raw) > 200:
        raise InvalidInput("'description' must be a string of at most 200 characters")
    return raw.strip()


def _endpoint_id(request: Request) -> str:
    return text_param(request.path_params["endpoint_id"], "endpoint_id")[:64]


async def list_all(request: Request) -> Response:
    node: Node = request.state.node
    tenant_id = (await managed_tenant(request, node, WEBHOOKS_MANAGE)).id
    return JSONResponse({"webhooks": [e.to_json() for e in await list_endpoints(node.engine, tenant_id)]})


async def create(request: Request) -> Response:
    node: Node = request.state.node
    tenant = await managed_tenant(request, node, WEBHOOKS_MANAGE)
    tenant_id = tenant.id
    body = await read_json(request, 16 * 1024)
    url = _url(body.get("url"), node.settings.webhooks_allow_private)
    events, description = _events(body.get("events")), _description(body.get("description"))
    plan = node.accounts.plan_of(tenant)
    if await count_endpoints(node.engine, tenant_id) >= plan.integrations:
        raise IntegrationLimitReached(
            f"the {plan.name} plan includes {plan.integrations} standard integrations and all are in use"
        )
    endpoint = await create_endpoint(node.engine, tenant_id, url, events, description)
    node.webhooks.forget(tenant_id)
    return JSONResponse(endpoint.to_json(with_secret=True), status_code=201)


async def read(request: Request) -> Response:
    node: Node = request.state.node
    tenant_id = (await managed_tenant(request, node, WEBHOOKS_MANAGE)).id
    endpoint = await get_endpoint(node.engine, tenant_id, _endpoint_id(request))
    if endpoint is None:
        raise NotFound("no such webhook endpoint in this tenant")
    return JSONResponse(endpoint.to_json(with_secret=True))


async def change(request: Request) -> Response:
    node: Node = request.state.node
    tenant_id = (await managed_tenant(request, node, WEBHOOKS_MANAGE)).id
    body = await read_json(request, 16 * 1024)
    values: dict[str, Any] = {}
    if "url" in body:
        values["url"] = _url(body["url"], node.settings.webhooks_allow_private)
    if "events" in body:
        values["events"] = _events(body["events"])
    if "description" in body:
        values["description"] = _description(body["description"])
    if "disabled" in body:
        if not isinstance(body["disabled"], bool):
            raise InvalidInput("'disabled' must be true or false")
        values["disabled"] = body["disabled"]
    if not values:
        raise InvalidInput("send at least one of url, events, description, disabled")
    endpoint = await update_endpoint(node.engine, tenant_id, _endpoint_id(request), values)
    node.webhooks.forget(tenant_id)
    return JSONResponse(endpoint.to_json(with_secret=True))


async def remove(request: Request) -> Response:
    node: Node = request.state.node
    tenant_id = (await managed_tenant(request, node, WEBHOOKS_MANAGE)).id
    if not await delete_endpoint(node.engine, tenant_id, _endpoint_id(request)):
        raise NotFound("no such webhook endpoint in this tenant")
    node.webhooks.forget(tenant_id)
    return Response(status_code=204)


async def deliveries(request: Request) -> Response:
    node: Node = request.state.node
    tenant_id = (await managed_tenant(request, node, WEBHOOKS_MANAGE)).id
    endpoint_id = _endpoint_id(request)
    if await get_endpoint(node.engine, tenant_id, endpoint_id) is None:
        raise NotFound("no such webhook endpoint in this tenant")
    found = await list_deliveries(node.engine, tenant_id, endpoint_id)
    return JSONResponse({"deliveries": [delivery.to_json() for delivery in found]})


async def resend(request: Request) -> Response:
    node: Node = request.state.node
    tenant_id = (await managed_tenant(request, node, WEBHOOKS_MANAGE)).id
    delivery_id = text_param(request.path_params["delivery_id"], "delivery_id")[:64]
    if not await redeliver(node.engine, tenant_id, _endpoint_id(request), delivery_id):
        raise NotFound("no such delivery of this endpoint")
    node.webhooks.wake()
    return JSONResponse({"id": delivery_id, "status": "pending"}, status_code=202)
