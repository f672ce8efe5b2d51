"""``GET /api/health``: what a load balancer asks before sending traffic to this node."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from hub.node import Node


async def health(request: Request) -> JSONResponse:
    node: Node = request.state.node
    report = await node.health()
    return JSONResponse(report, status_code=200 if report["ok"] else 503, headers={"Cache-Control": "no-store"})
