"""The pricebook API: public reads of the live numbers, platform-admin drafts and publishing."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.api.bodies import read_json
from hub.auth.permissions import PRICEBOOK_MANAGE, Principal
from hub.auth.request import optional_principal, require_principal
from hub.errors import Forbidden, InvalidInput, NotFound, Unavailable
from hub.node import Node
from hub.store.pricebook import PLAN_IDS, create_draft, get_pricebook, publish

SUPPORT_LEVELS = ("standard", "priority", "dedicated")
MAX_AMOUNT = 100_000_000
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
    return JSONResponse(pricebook.to_json(), headers=PUBLIC_HEADERS)


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
    return JSONResponse(pricebook.to_json(), headers=PUBLIC_HEADERS)


async def create_version(request: Request) -> Response:
    node: Node = request.state.node
    principal = await _admin(request, node)
    body = await read_json(request, node.settings.max_body_bytes)
    label = body.get("label", "")
    if not isinstance(label, str) or len(label) > 100:
        raise InvalidInput("'label' must be a string of at most 100 characters")
    draft = await create_draft(node.engine, label.strip(), _plans(body.get("plans")), principal.user_id)
    return JSONResponse(draft.to_json(), status_code=201)


async def publish_version(request: Request) -> Response:
    node: Node = request.state.node
    await _admin(request, node)
    published = await publish(node.engine, _version(request))
    await node.pricebook.reload()
    node.pricebook.announce()  # every other node reloads now too
    return JSONResponse(published.to_json())


def _plans(raw: Any) -> list[dict[str, Any]]:
    """Exactly the three plans, each complete and sane: a published pricebook drives every live number."""
    if not isinstance(raw, list) or len(raw) != len(PLAN_IDS):
        raise InvalidInput(f"'plans' must list exactly the plans {', '.join(PLAN_IDS)}")
    plans = []
    for index, plan in enumerate(raw):
        if not isinstance(plan, dict):
            raise InvalidInput(f"plans[{index}] must be an object")
        plans.append(_plan(plan, index))
    if sorted(plan["id"] for plan in plans) != sorted(PLAN_IDS):
        raise InvalidInput(f"'plans' must hold each of {', '.join(PLAN_IDS)} once")
    return sorted(plans, key=lambda plan: PLAN_IDS.index(plan["id"]))


def _plan(plan: dict[str, Any], index: int) -> dict[str, Any]:
    where = f"plans[{index}]"
    plan_id = plan.get("id")
    if plan_id not in PLAN_IDS:
        raise InvalidInput(f"{where}.id must be one of {', '.join(PLAN_IDS)}")
    name = plan.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 60:
        raise InvalidInput(f"{where}.name must be a non-empty string of at most 60 characters")
    support = plan.get("support")
    if support not in SUPPORT_LEVELS:
        raise InvalidInput(f"{where}.support must be one of {', '.join(SUPPORT_LEVELS)}")
    seats = plan.get("seats")
    if seats is not None and not _count(seats, minimum=1):
        raise InvalidInput(f"{where}.seats must be a whole number of at least 1, or null for unlimited")
    for field in ("price_usd_month", "ai_credits_month", "integrations"):
        if not _count(plan.get(field), minimum=0):
            raise InvalidInput(f"{where}.{field} must be a whole number from 0 to {MAX_AMOUNT:,}")
    return {
        "id": plan_id,
        "name": name.strip(),
        "price_usd_month": plan["price_usd_month"],
        "ai_credits_month": plan["ai_credits_month"],
        "seats": seats,
        "integrations": plan["integrations"],
        "support": support,
    }


def _count(value: Any, *, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= MAX_AMOUNT
