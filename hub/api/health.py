"""What operators and their tools ask a node: ``GET /api/health`` (a load balancer, before sending traffic) and
``GET /metrics`` (Prometheus)."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse
from hub.api.errors import error_response
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


async def metrics(request: Request) -> Response:
    """``GET /metrics``: Prometheus' text format, for a scraper holding ``HUB_METRICS_TOKEN`` as a Bearer token.

    Without a token configured the endpoint does not exist (404): a node never shows its numbers by default.
    """
    services: Services = request.state.services
    token = services.settings.metrics_token
    if token is None:
        return error_response(404, "not_found", "Not Found")
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
        return error_response(
            401, "unauthenticated", "metrics need the Bearer token of HUB_METRICS_TOKEN", {"WWW-Authenticate": "Bearer"}
        )
    # The classic text format (0.0.4): every Prometheus reads it.
    return Response(await services.scrape(), media_type=CONTENT_TYPE_PLAIN_0_0_4, headers={"Cache-Control": "no-store"})
