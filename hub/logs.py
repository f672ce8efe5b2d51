"""Logging: text for a terminal (the default), or one JSON object per line (``HUB_LOG_FORMAT=json``).

Every record carries the node, and the tenant, session and request it happened for when there is
one: the entry points (the HTTP middleware below, both sockets, the chat and management handlers)
set these context variables, and what they start (an AI reply's task, a query) inherits them. They
are set once per request or connection, never per frame.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REQUEST_ID_HEADER = "x-request-id"
_FOREIGN_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # a balancer's id is kept when it looks like one

node_id: ContextVar[str | None] = ContextVar("hub_node_id", default=None)
tenant_id: ContextVar[str | None] = ContextVar("hub_tenant_id", default=None)
session_id: ContextVar[str | None] = ContextVar("hub_session_id", default=None)
request_id: ContextVar[str | None] = ContextVar("hub_request_id", default=None)
FIELDS = (("node", node_id), ("tenant", tenant_id), ("session", session_id), ("request_id", request_id))


class HubContext(logging.Filter):
    """Puts the node, tenant, session and request ids of the current context on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, variable in FIELDS:
            setattr(record, name, variable.get())
        return True


class JsonLines(JsonFormatter):
    """One JSON object per line: time, level, logger, message, the context's ids (those that are set)."""

    def process_log_record(self, log_data: dict[str, object]) -> dict[str, object]:
        # uvicorn adds a copy of some messages with terminal colours: not for a log shipper.
        return {key: value for key, value in log_data.items() if value is not None and key != "color_message"}


def configure(level: str, log_format: str) -> None:
    """Route every logger (the hub's, uvicorn's, the libraries') through one stderr handler on the root logger.

    Idempotent: a worker process that builds its app calls it again.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(HubContext())
    if log_format == "json":
        handler.setFormatter(
            JsonLines(
                "%(levelname)s %(name)s %(message)s %(node)s %(tenant)s %(session)s %(request_id)s",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp="time",  # ISO 8601, UTC
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "hub_handler", False)]:
        root.removeHandler(old)
    handler.hub_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    if log_format == "json":
        # uvicorn's own handlers would print text: its records go to the root handler instead.
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestContext:
    """ASGI middleware: every HTTP request gets a request id (the balancer's ``X-Request-ID`` when it sends a
    sane one) in its log context and in its response's ``X-Request-ID``, and the node's id."""

    def __init__(self, app: ASGIApp, node: str | None) -> None:
        self.app = app
        self.node = node

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((value for key, value in scope["headers"] if key == b"x-request-id"), b"").decode("latin-1")
        request = given if _FOREIGN_REQUEST_ID.fullmatch(given) else new_request_id()
        node_id.set(self.node)
        request_id.set(request)
        tenant_id.set(None)
        session_id.set(None)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request
            await send(message)

        await self.app(scope, receive, send_with_id)


def socket_context(node: str, tenant: str) -> None:
    """A WebSocket's context: set once, when it is accepted (its task lives as long as the socket)."""
    node_id.set(node)
    tenant_id.set(tenant)
    session_id.set(None)
    request_id.set(new_request_id())
