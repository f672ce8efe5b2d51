"""``GET /api/health``: what a load balancer asks before sending traffic to this node."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType
from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse
from hub.node import Services

Part = dict[str, Any]


class Health(msgspec.Struct, kw_only=True):
    """This node's health: ready for traffic when the database and the broker answer."""

    ok: bool
    node: Annotated[str, Meta(description="This node's id.")]
    database: Part
    broker: Annotated[Part, Meta(description="Without Redis (one node).")] | UnsetType = UNSET
    redis: Annotated[Part, Meta(description="With Redis.")] | UnsetType = UNSET
    ai: Part
    sockets: int
    ai_replies_streaming: int


async def health(request: Request) -> Response:
    services: Services = request.state.services
    report = msgspec.convert(await services.health(), Health)
    return StructResponse(report, status_code=200 if report.ok else 503, headers={"Cache-Control": "no-store"})
