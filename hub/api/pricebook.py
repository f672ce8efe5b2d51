"""The pricebook API: public reads of the live numbers, platform-admin drafts and publishing."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.api.bodies import read_json
from hub.auth.permissions import PRICEBOOK_MANAGE, Principal
from hub.auth.request import optional_principal, require_principal
from hub.errors import Forbidden, InvalidInput, NotFound, Unavailable
from hub.node import Node
from hub.plans import PLAN_IDS, Plan, Pricebook
from hub.store.pricebook import create_draft, get_pricebook, publish

PUBLIC_HEADERS = {"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"}


def _version(request: Request) -> int:
    raw = request.path_params["version"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise InvalidInput("the version must be a positive integer, e.g. /api/pricebook/versions/1")
    return int(raw)


def _is_pricebook_admin(principal: Principal | None) -> bool:
    return principal is not None and principal.is_platform_admin and PRICEBOOK_MANAGE in principal.permissions


async def _admin(request: Request, node: Node) -> Principal:
    principal = await require_principal(request, node, request.method)
    if not _is_pricebook_admin(principal):
        raise Forbidden("only platform admins manage the pricebook")
    return principal


async def current(request: Request) -> Response:
    node: Node = request.state.node
    pricebook = node.pricebook.current
    if pricebook is None:
        raise Unavailable("no pricebook is published yet")
    return JSONResponse(pricebook_json(pricebook), headers=PUBLIC_HEADERS)


async def version(request: Request) -> Response:
    node: Node = request.state.node
    number = _version(request)
    pricebook = await get_pricebook(node.engine, number)
    if pricebook is not None and not pricebook.published:
        # Drafts are for platform admins only; to everyone else they do not exist.
        try:
            principal = await optional_principal(request, node)
        except Exception:
            principal = None
        if not _is_pricebook_admin(principal):
            pricebook = None
    if pricebook is None:
        raise NotFound(f"no published pricebook version {number}")
    return JSONResponse(pricebook_json(pricebook), headers=PUBLIC_HEADERS)


async def create_version(request: Request) -> Response:
    node: Node = request.state.node
    principal = await _admin(request, node)
    body = await read_json(request, node.settings.max_body_bytes)
    label = body.get("label", "")
    if not isinstance(label, str) or len(label) > 100:
        raise InvalidInput("'label' must be a string of at most 100 characters")
    draft = await create_draft(node.engine, label.strip(), _plans(body.get("plans")), principal.user_id)
    return JSONResponse(pricebook_json(draft), status_code=201)


async def publish_version(request: Request) -> Response:
    node: Node = request.state.node
    await _admin(request, node)
    published = await publish(node.engine, _version(request))
    await node.pricebook.reload()
    node.pricebook.announce()  # every other node reloads now too
    return JSONResponse(pricebook_json(published))


def _plans(raw: Any) -> list[Plan]:
    """Exactly the three plans, each complete and sane: a published pricebook drives every live number."""
    if not isinstance(raw, list) or len(raw) != len(PLAN_IDS):
        raise InvalidInput(f"'plans' must list exactly the plans {', '.join(PLAN_IDS)}")
    try:
        plans = msgspec.convert(raw, list[Plan])
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc).replace("$", "plans", 1)) from None
    if sorted(plan.id for plan in plans) != sorted(PLAN_IDS):
        raise InvalidInput(f"'plans' must hold each of {', '.join(PLAN_IDS)} once")
    plans = [msgspec.structs.replace(plan, name=plan.name.strip()) for plan in plans]
    return sorted(plans, key=lambda plan: PLAN_IDS.index(plan.id))


def pricebook_json(pricebook: Pricebook) -> dict[str, Any]:
    return {
        "version": pricebook.version,
        "label": pricebook.label,
        "status": "published" if pricebook.published else "draft",
        "created_at": pricebook.created_at.isoformat(),
        "published_at": pricebook.published_at.isoformat() if pricebook.published_at else None,
        "plans": msgspec.to_builtins(pricebook.plans),
    }
