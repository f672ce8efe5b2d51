"""``/api/webhooks``: a tenant's webhook endpoints, their delivery log, redelivery (``webhooks.manage``).

Endpoints count against the plan's standard integrations (409 ``integration_limit`` beyond them).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import UNSET, Meta, UnsetType
from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse, read_body, read_path
from hub.api.models import PathId, Timestamp
from hub.api.tenancy import managed_tenant
from hub.auth.permissions import WEBHOOKS_MANAGE
from hub.errors import Conflict, InvalidInput, NotFound
from hub.node import Services
from hub.store import webhooks as store
from hub.store.webhooks import WebhookEvent
from hub.webhooks.guard import is_public

WEBHOOK_BODY_BYTES = 16 * 1024

Url = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=2000,
        description="http(s), with a host and without credentials; private and internal addresses are refused "
        "(unless `HUB_WEBHOOKS_ALLOW_PRIVATE=1`).",
    ),
]
Events = Annotated[list[WebhookEvent], Meta(min_length=1, description="The events to send; repeats count once.")]
Description = Annotated[str, Meta(max_length=200)]


class IntegrationLimitReached(Conflict):
    code = "integration_limit"


class WebhookRequest(msgspec.Struct):
    """Where to send which events."""

    url: Url
    events: Events
    description: Description | None = None


class WebhookChange(msgspec.Struct):
    """The fields to change (at least one); the others stay as they are."""

    url: Url | UnsetType = UNSET
    events: Events | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET
    disabled: Annotated[bool, Meta(description="A disabled endpoint gets no new events.")] | UnsetType = UNSET


class WebhookEndpoint(msgspec.Struct, kw_only=True):
    id: str
    url: str
    events: list[WebhookEvent]
    description: str
    disabled: bool
    created_at: Timestamp
    secret: Annotated[str, Meta(description="whsec_…: verify signatures with it (Standard Webhooks).")] | UnsetType = (
        UNSET
    )

    @classmethod
    def of(cls, endpoint: store.Endpoint, *, with_secret: bool = True) -> WebhookEndpoint:
        fields = {
            "id": endpoint.id,
            "url": endpoint.url,
            "events": list(endpoint.events),
            "description": endpoint.description,
            "disabled": endpoint.disabled,
            "created_at": endpoint.created_at.isoformat(),
        }
        return msgspec.convert({**fields, "secret": endpoint.secret} if with_secret else fields, cls)


class WebhookList(msgspec.Struct):
    webhooks: Annotated[list[WebhookEndpoint], Meta(description="Without their secrets.")]


class WebhookDelivery(msgspec.Struct, kw_only=True):
    id: Annotated[str, Meta(description="The webhook-id header, the same on every attempt.")]
    event_type: WebhookEvent
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: Timestamp | None
    last_status: int | None
    last_error: str | None
    created_at: Timestamp
    delivered_at: Timestamp | None

    @classmethod
    def of(cls, delivery: store.Delivery) -> WebhookDelivery:
        pending = delivery.status == "pending"
        fields = {
            "id": delivery.id,
            "event_type": delivery.event_type,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "next_attempt_at": delivery.next_attempt_at.isoformat() if pending else None,
            "last_status": delivery.last_status,
            "last_error": delivery.last_error,
            "created_at": delivery.created_at.isoformat(),
            "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
        }
        return msgspec.convert(fields, cls)


class WebhookDeliveryList(msgspec.Struct):
    deliveries: Annotated[list[WebhookDelivery], Meta(description="Newest first.")]


class Redelivery(msgspec.Struct):
    id: str
    status: Literal["pending"] = "pending"


class EndpointPath(msgspec.Struct):
    endpoint_id: PathId


class DeliveryPath(EndpointPath):
    delivery_id: PathId


def _url(url: str, allow_private: bool) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise InvalidInput("'url' must be an http(s) URL with a host and without credentials")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None and not allow_private and not is_public(str(literal)):
        raise InvalidInput("'url' points to a private or internal address (HUB_WEBHOOKS_ALLOW_PRIVATE=1 allows it)")
    return url


async def list_all(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, WEBHOOKS_MANAGE)
    found = await store.list_endpoints(services.engine, tenant.id)
    return StructResponse(WebhookList([WebhookEndpoint.of(endpoint, with_secret=False) for endpoint in found]))


async def create(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, WEBHOOKS_MANAGE)
    body = await read_body(request, WebhookRequest, WEBHOOK_BODY_BYTES)
    url = _url(body.url, services.settings.webhooks_allow_private)
    plan = services.accounts.plan_of(tenant)
    if await store.count_endpoints(services.engine, tenant.id) >= plan.integrations:
        raise IntegrationLimitReached(
            f"the {plan.name} plan includes {plan.integrations} standard integrations and all are in use"
        )
    events: list[str] = list(dict.fromkeys(body.events))
    endpoint = await store.create_endpoint(services.engine, tenant.id, url, events, (body.description or "").strip())
    services.forget_tenant(tenant.id)
    return StructResponse(WebhookEndpoint.of(endpoint), status_code=201)


async def read(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, WEBHOOKS_MANAGE)
    endpoint = await store.get_endpoint(services.engine, tenant.id, read_path(request, EndpointPath).endpoint_id)
    if endpoint is None:
        raise NotFound("no such webhook endpoint in this tenant")
    return StructResponse(WebhookEndpoint.of(endpoint))


async def change(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, WEBHOOKS_MANAGE)
    body = await read_body(request, WebhookChange, WEBHOOK_BODY_BYTES)
    values: dict[str, Any] = {}
    if body.url is not UNSET:
        values["url"] = _url(body.url, services.settings.webhooks_allow_private)
    if body.events is not UNSET:
        values["events"] = list(dict.fromkeys(body.events))
    if body.description is not UNSET:
        values["description"] = (body.description or "").strip()
    if body.disabled is not UNSET:
        values["disabled"] = body.disabled
    if not values:
        raise InvalidInput("send at least one of url, events, description, disabled")
    endpoint_id = read_path(request, EndpointPath).endpoint_id
    endpoint = await store.update_endpoint(services.engine, tenant.id, endpoint_id, values)
    services.forget_tenant(tenant.id)
    return StructResponse(WebhookEndpoint.of(endpoint))


async def remove(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, WEBHOOKS_MANAGE)
    if not await store.delete_endpoint(services.engine, tenant.id, read_path(request, EndpointPath).endpoint_id):
        raise NotFound("no such webhook endpoint in this tenant")
    services.forget_tenant(tenant.id)
    return Response(status_code=204)


async def deliveries(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, WEBHOOKS_MANAGE)
    endpoint_id = read_path(request, EndpointPath).endpoint_id
    if await store.get_endpoint(services.engine, tenant.id, endpoint_id) is None:
        raise NotFound("no such webhook endpoint in this tenant")
    found = await store.list_deliveries(services.engine, tenant.id, endpoint_id)
    return StructResponse(WebhookDeliveryList([WebhookDelivery.of(delivery) for delivery in found]))


async def resend(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, WEBHOOKS_MANAGE)
    path = read_path(request, DeliveryPath)
    if not await store.redeliver(services.engine, tenant.id, path.endpoint_id, path.delivery_id):
        raise NotFound("no such delivery of this endpoint")
    services.webhooks.wake()
    return StructResponse(Redelivery(path.delivery_id), status_code=202)
