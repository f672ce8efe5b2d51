"""What the route table says about one HTTP operation: enough to route it and to document it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

Handler = Callable[[Request], Awaitable[Response]]
Auth = Literal["none", "login", "widget key"]


@dataclass(frozen=True)
class Reply:
    """One documented answer of an operation."""

    description: str
    body: Any = None  # the JSON body's type (a Struct, or e.g. dict[str, Any]); None: no body
    stream: bool = False  # also answered as Server-Sent Events when the client asks for them
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Header:
    """A request header the operation reads (documented; the handler checks it)."""

    name: str
    description: str
    required: bool = False


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    handler: Handler
    tag: str
    summary: str
    replies: Mapping[int, Reply]
    errors: tuple[int, ...] = ()  # statuses answered in the one error shape
    description: str = ""
    auth: Auth = "login"  # login: Bearer, or the cookie session (+ X-CSRF-Token on unsafe methods)
    body: type[msgspec.Struct] | None = None
    body_bytes: int | None = None  # the handler's limit; None: HUB_MAX_BODY_BYTES
    body_optional: bool = False
    path_parameters: type[msgspec.Struct] | None = None
    query: type[msgspec.Struct] | None = None
    headers: tuple[Header, ...] = ()

    def route(self) -> Route:
        return Route(self.path, self.handler, methods=[self.method])


@dataclass(frozen=True)
class Socket:
    """A WebSocket endpoint: OpenAPI cannot describe it, the document points to its protocol."""

    path: str
    handler: Callable[[WebSocket], Awaitable[None]]
    summary: str
    description: str
    protocol: str = "docs/PROTOCOL.md"

    def route(self) -> WebSocketRoute:
        return WebSocketRoute(self.path, self.handler)
