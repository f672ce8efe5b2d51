"""``/api/labels``: a tenant's labels. Every agent reads them (and puts them on conversations, see
``hub.api.assignment``); owners and admins (``users.manage``) add, rename, recolour and delete them.
Every change reaches every Mission Control of the tenant, on every node, as a ``labels`` frame."""

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
from hub.errors import LabelNotFound
from hub.node import Services
from hub.store import labels as store
from hub.store.labels import MAX_PER_SESSION, MAX_PER_TENANT, NAME_CHARS, Color

LABEL_BODY_BYTES = 4096

Name = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=NAME_CHARS,
        pattern=r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$",
        description="What agents see on a conversation, e.g. `Refund`; unique in the tenant whatever its case, "
        "no control characters.",
    ),
]
LabelColor = Annotated[Color, Meta(description="The chip's colour in Mission Control.")]


class LabelRequest(msgspec.Struct, kw_only=True):
    """A label to add."""

    name: Name
    color: LabelColor = "gray"


class LabelChange(msgspec.Struct, kw_only=True):
    """The fields to change; the others stay."""

    name: Name | UnsetType = UNSET
    color: LabelColor | UnsetType = UNSET


class LabelEntry(msgspec.Struct, kw_only=True):
    id: str
    name: str
    color: str
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, label: store.Label) -> LabelEntry:
        return cls(
            id=label.id,
            name=label.name,
            color=label.color,
            created_at=label.created_at.isoformat(),
            updated_at=label.updated_at.isoformat(),
        )


class LabelList(msgspec.Struct):
    labels: list[LabelEntry]


class LabelPath(msgspec.Struct):
    label_id: PathId


LIMITS = (
    f"At most {MAX_PER_TENANT} labels a tenant (409 `too_many_labels`), names unique whatever their case (409 "
    f"`label_exists`); a conversation carries at most {MAX_PER_SESSION} (409 `session_label_limit`)."
)


async def list_all(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, CHAT_MANAGE)
    found = await store.list_labels(services.engine, tenant.id)
    return StructResponse(LabelList([LabelEntry.of(label) for label in found]), headers={"Cache-Control": "no-store"})


async def create(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, USERS_MANAGE)
    body = await read_body(request, LabelRequest, LABEL_BODY_BYTES)
    label = await store.create_label(services.engine, tenant.id, body.name.strip(), body.color)
    await services.assignments.labels_changed(tenant.id)
    return StructResponse(LabelEntry.of(label), status_code=201)


async def change(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, USERS_MANAGE)
    body = await read_body(request, LabelChange, LABEL_BODY_BYTES)
    values: dict[str, str] = {}
    if body.name is not UNSET:
        values["name"] = body.name.strip()
    if body.color is not UNSET:
        values["color"] = body.color
    label = await store.update_label(services.engine, tenant.id, read_path(request, LabelPath).label_id, values)
    if label is None:
        raise LabelNotFound("no such label in this tenant")
    await services.assignments.labels_changed(tenant.id)
    return StructResponse(LabelEntry.of(label))


async def remove(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, USERS_MANAGE)
    if not await store.delete_label(services.engine, tenant.id, read_path(request, LabelPath).label_id):
        raise LabelNotFound("no such label in this tenant")
    await services.assignments.labels_changed(tenant.id)
    return Response(status_code=204)
