"""The pricebook API: public reads of the live numbers, platform-admin drafts and publishing."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse, read_body, read_path
from hub.api.models import Timestamp
from hub.auth.permissions import PRICEBOOK_MANAGE, Principal
from hub.auth.request import optional_principal, require_principal
from hub.errors import Forbidden, InvalidInput, NotFound, Unavailable
from hub.node import Services
from hub.plans import PLAN_IDS, Plan, Pricebook
from hub.store.pricebook import create_draft, get_pricebook, publish

PUBLIC_HEADERS = {"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"}
MAX_VERSION = 999_999_999


class PricebookVersion(msgspec.Struct, kw_only=True):
    """A version of the pricebook: the published one drives every live number."""

    version: int
    label: Annotated[str, Meta(description="e.g. `pricebook-seed V1`")]
    status: Literal["draft", "published"]
    created_at: Timestamp
    published_at: Timestamp | None
    plans: list[Plan]

    @classmethod
    def of(cls, pricebook: Pricebook) -> PricebookVersion:
        return cls(
            version=pricebook.version,
            label=pricebook.label,
            status="published" if pricebook.published else "draft",
            created_at=pricebook.created_at.isoformat(),
            published_at=pricebook.published_at.isoformat() if pricebook.published_at else None,
            plans=list(pricebook.plans),
        )


class PricebookDraftRequest(msgspec.Struct):
    """A new draft: exactly the three plans, each once, and an optional label."""

    plans: Annotated[list[Plan], Meta(min_length=len(PLAN_IDS), max_length=len(PLAN_IDS))]
    label: Annotated[str, Meta(max_length=100)] = ""


class VersionPath(msgspec.Struct):
    version: Annotated[int, Meta(ge=1, le=MAX_VERSION, description="e.g. 1, the product page's table")]


def _is_pricebook_admin(principal: Principal | None) -> bool:
    return principal is not None and principal.is_platform_admin and PRICEBOOK_MANAGE in principal.permissions


async def _admin(request: Request, services: Services) -> Principal:
    principal = await require_principal(request, services.engine, request.method)
    if not _is_pricebook_admin(principal):
        raise Forbidden("only platform admins manage the pricebook")
    return principal


async def current(request: Request) -> Response:
    services: Services = request.state.services
    pricebook = services.pricebook.current
    if pricebook is None:
        raise Unavailable("no pricebook is published yet")
    return StructResponse(PricebookVersion.of(pricebook), headers=PUBLIC_HEADERS)


async def version(request: Request) -> Response:
    services: Services = request.state.services
    number = read_path(request, VersionPath).version
    pricebook = await get_pricebook(services.engine, number)
    if pricebook is not None and not pricebook.published:
        # Drafts are for platform admins only; to everyone else they do not exist.
        try:
            principal = await optional_principal(request, services.engine)
        except Exception:
            principal = None
        if not _is_pricebook_admin(principal):
            pricebook = None
    if pricebook is None:
        raise NotFound(f"no published pricebook version {number}")
    return StructResponse(PricebookVersion.of(pricebook), headers=PUBLIC_HEADERS)


async def create_version(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _admin(request, services)
    body = await read_body(request, PricebookDraftRequest, services.settings.max_body_bytes)
    if sorted(plan.id for plan in body.plans) != sorted(PLAN_IDS):
        raise InvalidInput(f"'plans' must hold each of {', '.join(PLAN_IDS)} once")
    plans = sorted(
        (msgspec.structs.replace(plan, name=plan.name.strip()) for plan in body.plans),
        key=lambda plan: PLAN_IDS.index(plan.id),
    )
    draft = await create_draft(services.engine, body.label.strip(), plans, principal.user_id)
    return StructResponse(PricebookVersion.of(draft), status_code=201)


async def publish_version(request: Request) -> Response:
    services: Services = request.state.services
    await _admin(request, services)
    published = await publish(services.engine, read_path(request, VersionPath).version)
    await services.pricebook.reload()
    services.pricebook.announce()  # every other services reloads now too
    return StructResponse(PricebookVersion.of(published))
