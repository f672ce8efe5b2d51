"""What operators and their tools ask a node: ``GET /api/ready`` (a load balancer, before sending traffic),
``GET /api/live`` (a supervisor, before restarting it), ``GET /api/health`` (people: every part's state) and
``GET /metrics`` (Prometheus).

Readiness is health plus draining, one definition: the node is ready when ``/api/health`` would say ok
(database answering, writer not stuck, broker answering and listening) and no SIGTERM has come.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

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


Reason = Literal["draining", "database", "writer", "redis", "broker"]


class Ready(msgspec.Struct, kw_only=True):
    """Whether a load balancer should send this node new traffic, and if not, why."""

    ok: bool
    node: Annotated[str, Meta(description="This node's id.")]
    reasons: Annotated[
        list[Reason],
        Meta(
            description="Empty when ready. `draining`: SIGTERM came, the node is going away; `database`: it does not "
            "answer; `writer`: the message writer is stuck or failing; `redis` (or `broker`): the broker does not "
            "answer or its subscriber is not listening. `GET /api/health` gives the details."
        ),
    ]


class Live(msgspec.Struct, kw_only=True):
    """The process answers: nothing else is checked (a database outage is no reason to restart a node)."""

    ok: Literal[True]
    node: Annotated[str, Meta(description="This node's id.")]


NO_STORE = {"Cache-Control": "no-store"}


def not_ready_because(report: Health) -> list[Reason]:
    """What of a health report keeps the node from taking traffic (the same parts that make it 503)."""
    reasons: list[Reason] = []
    database = report.database
    if "error" in database:  # the ping on a fresh connection failed
        reasons.append("database")
    writer = database.get("writer")
    if isinstance(writer, dict) and not writer.get("ok"):
        reasons.append("writer")
    if report.redis is not UNSET and not report.redis.get("ok"):
        reasons.append("redis")
    if report.broker is not UNSET and not report.broker.get("ok"):
        reasons.append("broker")
    return reasons


async def ready(request: Request) -> Response:
    services: Services = request.state.services
    node = services.settings.node_id
    if services.draining():  # first, and without asking anything: the balancer must stop sending at once
        return StructResponse(Ready(ok=False, node=node, reasons=["draining"]), status_code=503, headers=NO_STORE)
    report = msgspec.convert(await services.health(), Health)
    reasons = not_ready_because(report)
    if not report.ok and not reasons:  # health failed for a part not named above: never say ready then
        reasons = ["database"]
    answer = Ready(ok=not reasons, node=node, reasons=reasons)
    return StructResponse(answer, status_code=200 if answer.ok else 503, headers=NO_STORE)


async def live(request: Request) -> Response:
    services: Services = request.state.services
    return StructResponse(Live(ok=True, node=services.settings.node_id), headers=NO_STORE)


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
