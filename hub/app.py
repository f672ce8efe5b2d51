"""The app factory: ``create_app(settings)`` builds routes and a lifespan that owns the node."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from types import FrameType
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from hub.api.errors import EXCEPTION_HANDLERS
from hub.api.health import metrics
from hub.api.routes import API, SOCKETS
from hub.api.widget_js import widget_js
from hub.assets import asset_dir
from hub.backplane import MemoryBackplane
from hub.continue_page import continue_page
from hub.docs_page import docs
from hub.link_pages import forgot_page, invite_page, reset_page
from hub.logs import RequestContext, configure
from hub.mail import Mailer
from hub.mission_control import dashboard, service_worker
from hub.mission_control import login_form as mission_control_login_form
from hub.mission_control import login_page as mission_control_login
from hub.node import Node
from hub.office_hours import Clock, utc_now
from hub.pages import templates
from hub.portal import (
    analytics_page,
    canned_page,
    home,
    hours_page,
    knowledge_page,
    labels_page,
    login_form,
    login_page,
    personas_page,
    plan_page,
    profile_page,
    team_page,
    tenants_page,
    webhooks_page,
    widget_preview,
    widget_setup,
)
from hub.security_headers import SecurityHeaders, SecurityHeadersMiddleware
from hub.settings import Settings
from hub.ws.visitor import park_idle_senders, visitor_socket

logger = logging.getLogger(__name__)

VISITOR_SOCKET_PREFIX = "/ws/visitor/"


class HubApp(Starlette):
    """Starlette, with the visitor socket served ahead of the middleware stack and router.

    A visitor socket lives for hours and most are idle: routed the usual way, each keeps the error
    middleware, exception middleware, router and route coroutine frames alive for its whole life.
    The handler catches everything itself, so nothing of that stack is needed on this path.

    Every HTTP answer gets its security headers from a middleware outside the whole stack, so that
    even the error middleware's 500 carries them.
    """

    def __init__(self, *, security_headers: SecurityHeaders, node_id: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.security_headers = security_headers
        self.node_id = node_id

    def build_middleware_stack(self) -> ASGIApp:
        # Outermost: the request id and node are in the log context of everything the request does.
        stack = SecurityHeadersMiddleware(super().build_middleware_stack(), self.security_headers)
        return RequestContext(stack, self.node_id)

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
    settings: Settings | None = None,
    *,
    backplane: MemoryBackplane | None = None,
    tune_gc: bool = False,
    mailer: Mailer | None = None,
    clock: Clock = utc_now,
    handle_signals: bool = False,
) -> Starlette:
    """Build a hub app; ``backplane`` lets tests run several nodes in one process without Redis; ``mailer`` and
    ``clock`` are given to ``Node.open`` (tests: an in-memory mailer, a fixed time for office hours).

    ``tune_gc`` and ``handle_signals`` are for a process that serves one app for its lifetime (``bob-hub serve``).
    """
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        node = await Node.open(settings, backplane=backplane, mailer=mailer, clock=clock)
        node.background("park-idle-senders", partial(park_idle_senders, node.sockets))
        app.state.node = node
        if tune_gc:
            tune_garbage_collector()
        try:
            with drain_first(node, settings.drain_s) if handle_signals else contextlib.nullcontext():
                # The edge reads request.state.services; app.state.node is for tests and tools that look inside.
                yield {"services": node.services, "templates": templates()}
        finally:
            await node.close()

    # Pages and assets here; every /api operation and socket comes from the one table that also documents them.
    routes: list[BaseRoute] = [
        Route("/widget/{tenant_uuid}/widget.js", widget_js, methods=["GET"]),
        Route("/", home, methods=["GET"]),
        Route("/portal", home, methods=["GET"]),
        Route("/portal/", home, methods=["GET"]),
        Route("/portal/login", login_page, methods=["GET"]),
        Route("/portal/login", login_form, methods=["POST"]),
        Route("/portal/widget", widget_setup, methods=["GET"]),
        Route("/portal/widget/preview", widget_preview, methods=["GET"]),
        Route("/portal/personas", personas_page, methods=["GET"]),
        Route("/portal/knowledge", knowledge_page, methods=["GET"]),
        Route("/portal/plan", plan_page, methods=["GET"]),
        Route("/portal/webhooks", webhooks_page, methods=["GET"]),
        Route("/portal/analytics", analytics_page, methods=["GET"]),
        Route("/portal/tenants", tenants_page, methods=["GET"]),
        Route("/portal/team", team_page, methods=["GET"]),
        Route("/portal/hours", hours_page, methods=["GET"]),
        Route("/portal/profile", profile_page, methods=["GET"]),
        Route("/portal/canned", canned_page, methods=["GET"]),
        Route("/portal/labels", labels_page, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Route("/chat/continue/{token}", continue_page, methods=["GET"]),
        Route("/invite/{token}", invite_page, methods=["GET"]),
        Route("/forgot-password", forgot_page, methods=["GET"]),
        Route("/reset-password/{token}", reset_page, methods=["GET"]),
        Route("/mission-control", dashboard, methods=["GET"]),
        Route("/mission-control/login", mission_control_login, methods=["GET"]),
        Route("/mission-control/login", mission_control_login_form, methods=["POST"]),
        # Not in the OpenAPI document on purpose: Prometheus' text format for a scraper, not part of the API,
        # and absent (404) unless HUB_METRICS_TOKEN is set. DEPLOY.md ("Metrics") documents it.
        Route("/metrics", metrics, methods=["GET"]),
        Route("/mission-control/sw.js", service_worker, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=str(asset_dir("static"))), name="static"),
        *(operation.route() for operation in API),
        *(socket.route() for socket in SOCKETS),
    ]
    return HubApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        security_headers=SecurityHeaders.for_hub(settings.public_url),
        node_id=settings.node_id,
    )


def app_from_env() -> Starlette:
    """Uvicorn factory for worker processes: each builds its app from the same environment."""
    settings = Settings.from_env()
    configure(settings.log_level, settings.log_format)  # each worker process logs as the settings say
    return create_app(settings, tune_gc=True, handle_signals=True)


@contextlib.contextmanager
def drain_first(node: Node, drain_s: float) -> Iterator[None]:
    """On SIGTERM, readiness turns false first; uvicorn's own shutdown (stop listening, close sockets with 1012,
    then the lifespan's) follows ``drain_s`` later, time for load balancers to see it and send no more traffic.

    Wraps the handler uvicorn installed for the serve (it restores it when the lifespan ends). A second SIGTERM,
    or one with no drain time, goes straight on to uvicorn.
    """
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield  # signals reach only the main thread; and no handler to hand on to means nobody serves here
        return
    loop = asyncio.get_running_loop()
    then = previous

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        first = not node.draining
        node.drain()  # a flag: safe inside a signal handler
        if first and drain_s > 0:
            loop.call_soon_threadsafe(_drain_then_stop, loop, drain_s, then, signum, frame)
        else:
            then(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, previous)


def _drain_then_stop(
    loop: asyncio.AbstractEventLoop,
    drain_s: float,
    stop: Callable[[int, FrameType | None], Any],
    signum: int,
    frame: FrameType | None,
) -> None:
    logger.info("SIGTERM: not ready from now; stopping in %.1f s (HUB_DRAIN_S)", drain_s)
    loop.call_later(drain_s, stop, signum, frame)


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
