"""``/api/canned-replies``: a tenant's canned replies. Every agent reads them (Mission Control inserts
them with ``/``); owners and admins (``users.manage``) add, change and delete them."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType
from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse, read_body, read_path
from hub.api.models import PathId, Timestamp
from hub.api.tenancy import managed_tenant
from hub.auth.permissions import CHAT_MANAGE, USERS_MANAGE
from hub.errors import NotFound
from hub.node import Services
from hub.store import canned as store
from hub.store.canned import TEXT_CHARS, TITLE_CHARS

CANNED_BODY_BYTES = 16 * 1024

Title = Annotated[
    str,
    Meta(min_length=1, max_length=TITLE_CHARS, pattern=r"\S", description="What agents search for after `/`."),
]
Text = Annotated[str, Meta(min_length=1, max_length=TEXT_CHARS, pattern=r"\S", description="What is inserted.")]


class CannedRequest(msgspec.Struct, kw_only=True):
    """A canned reply to add."""

    title: Title
    text: Text


class CannedChange(msgspec.Struct, kw_only=True):
    """The fields to change; the others stay."""

    title: Title | UnsetType = UNSET
    text: Text | UnsetType = UNSET


class CannedReply(msgspec.Struct, kw_only=True):
    id: str
    title: str
    text: str
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, reply: store.CannedReply) -> CannedReply:
        return cls(
            id=reply.id,
            title=reply.title,
            text=reply.text,
            created_at=reply.created_at.isoformat(),
            updated_at=reply.updated_at.isoformat(),
        )


class CannedList(msgspec.Struct):
    canned_replies: list[CannedReply]


class CannedPath(msgspec.Struct):
    reply_id: PathId


async def list_all(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, CHAT_MANAGE)
    found = await store.list_canned(services.engine, tenant.id)
    return StructResponse(CannedList([CannedReply.of(reply) for reply in found]), headers={"Cache-Control": "no-store"})


async def create(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, USERS_MANAGE)
    body = await read_body(request, CannedRequest, CANNED_BODY_BYTES)
    reply = await store.create_canned(services.engine, tenant.id, body.title.strip(), body.text.strip())
    return StructResponse(CannedReply.of(reply), status_code=201)


async def change(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, USERS_MANAGE)
    body = await read_body(request, CannedChange, CANNED_BODY_BYTES)
    values = {field: value.strip() for field in ("title", "text") if (value := getattr(body, field)) is not UNSET}
    reply = await store.update_canned(services.engine, tenant.id, read_path(request, CannedPath).reply_id, values)
    if reply is None:
        raise NotFound("no such canned reply in this tenant")
    return StructResponse(CannedReply.of(reply))


async def remove(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, USERS_MANAGE)
    if not await store.delete_canned(services.engine, tenant.id, read_path(request, CannedPath).reply_id):
        raise NotFound("no such canned reply in this tenant")
    return Response(status_code=204)
