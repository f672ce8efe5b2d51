"""The app factory: ``create_app(settings)`` builds routes and a lifespan that owns the node."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from hub.api.errors import EXCEPTION_HANDLERS
from hub.api.routes import API, SOCKETS
from hub.api.widget_js import widget_js
from hub.assets import asset_dir
from hub.backplane import MemoryBackplane
from hub.docs_page import docs
from hub.mission_control import dashboard
from hub.mission_control import login_page as mission_control_login
from hub.node import Node
from hub.pages import templates
from hub.portal import (
    analytics_page,
    knowledge_page,
    login_page,
    personas_page,
    plan_page,
    team_page,
    tenants_page,
    webhooks_page,
    widget_setup,
)
from hub.security_headers import SecurityHeaders, SecurityHeadersMiddleware
from hub.settings import Settings
from hub.ws.visitor import park_idle_senders, visitor_socket

VISITOR_SOCKET_PREFIX = "/ws/visitor/"


class HubApp(Starlette):
    """Starlette, with the visitor socket served ahead of the middleware stack and router.

    A visitor socket lives for hours and most are idle: routed the usual way, each keeps the error
    middleware, exception middleware, router and route coroutine frames alive for its whole life.
    The handler catches everything itself, so nothing of that stack is needed on this path.

    Every HTTP answer gets its security headers from a middleware outside the whole stack, so that
    even the error middleware's 500 carries them.
    """

    def __init__(self, *, security_headers: SecurityHeaders, **options: Any) -> None:
        super().__init__(**options)
        self.security_headers = security_headers

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack(), self.security_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"].startswith(VISITOR_SOCKET_PREFIX):
            tenant_uuid = scope["path"][len(VISITOR_SOCKET_PREFIX) :]
            if tenant_uuid and "/" not in tenant_uuid:
                scope["app"] = self
                scope["path_params"] = {"tenant_uuid": tenant_uuid}
                await visitor_socket(WebSocket(scope, receive, send))
                return
        await super().__call__(scope, receive, send)


# Allocations between young collections (CPython's default: 700).
GC_GEN0_THRESHOLD = 20_000


def create_app(
    settings: Settings | None = None, *, backplane: MemoryBackplane | None = None, tune_gc: bool = False
) -> Starlette:
    """Build a hub app; ``backplane`` lets tests run several nodes in one process without Redis.

    ``tune_gc`` is for a process that serves one app for its lifetime (``bob-hub serve``).
    """
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        node = await Node.open(settings, backplane=backplane)
        node.background("park-idle-senders", partial(park_idle_senders, node.sockets))
        app.state.node = node
        if tune_gc:
            tune_garbage_collector()
        try:
            # The edge reads request.state.services; app.state.node is for tests and tools that look inside.
            yield {"services": node.services, "templates": templates()}
        finally:
            await node.close()

    # Pages and assets here; every /api operation and socket comes from the one table that also documents them.
    routes: list[BaseRoute] = [
        Route("/widget/{tenant_uuid}/widget.js", widget_js, methods=["GET"]),
        Route("/portal/login", login_page, methods=["GET"]),
        Route("/portal/widget", widget_setup, methods=["GET"]),
        Route("/portal/personas", personas_page, methods=["GET"]),
        Route("/portal/knowledge", knowledge_page, methods=["GET"]),
        Route("/portal/plan", plan_page, methods=["GET"]),
        Route("/portal/webhooks", webhooks_page, methods=["GET"]),
        Route("/portal/analytics", analytics_page, methods=["GET"]),
        Route("/portal/tenants", tenants_page, methods=["GET"]),
        Route("/portal/team", team_page, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Route("/mission-control", dashboard, methods=["GET"]),
        Route("/mission-control/login", mission_control_login, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=str(asset_dir("static"))), name="static"),
        *(operation.route() for operation in API),
        *(socket.route() for socket in SOCKETS),
    ]
    return HubApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        security_headers=SecurityHeaders.for_hub(settings.public_url),
    )


def app_from_env() -> Starlette:
    """Uvicorn factory for worker processes: each builds its app from the same environment."""
    return create_app(Settings.from_env(), tune_gc=True)


def tune_garbage_collector() -> None:
    """Keep the cycle collector's pauses off the message path of a serving process.

    Measured on node A at 5,000 messages/s: 200 collections in 5 s took 750 ms, the longest 220 ms
    (each full pass walked every object of the node: modules, tables, sockets). Freezing what exists
    once the node is up takes those out of every later pass, and a larger first generation makes
    young passes rarer; reference counting still frees nearly everything at once.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)
