"""A lean WebSocket client: ``asyncio.Protocol`` plus websockets' sans-io ``ClientProtocol``.

The load generator has one core for thousands of sockets, so it skips the per-connection reader
task, queues and futures of a full client: bytes arrive in ``data_received``, are parsed in place,
and every text frame goes to one callback together with the arrival time, taken once per read.
Pings from the hub are answered by the sans-io protocol itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, cast

import orjson
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

# (client, payload, arrival time in ns since the epoch): the same clock the senders stamp with.
FrameHandler = Callable[["WsClient", bytes, int], None]


class HandshakeFailed(Exception):
    """The hub refused the upgrade or closed the socket before its ``ready`` frame."""


class WsClient(asyncio.Protocol):
    """One socket. The first text frame (the hub's ``ready``) resolves ``ready``; later ones go to ``on_frame``."""

    __slots__ = ("closed", "headers", "on_frame", "proto", "ready", "tag", "transport")

    def __init__(
        self, url: str, on_frame: FrameHandler | None = None, tag: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        loop = asyncio.get_running_loop()
        self.proto = ClientProtocol(parse_uri(url), max_size=None)
        self.headers = headers or {}
        self.on_frame = on_frame
        self.tag = tag
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[dict[str, Any]] = loop.create_future()
        # A socket lost before anyone awaits ``ready`` (a timed-out connect) must not log "never retrieved".
        self.ready.add_done_callback(_consume)
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        request = self.proto.connect()
        for name, value in self.headers.items():
            request.headers[name] = value
        self.proto.send_request(request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        proto = self.proto
        proto.receive_data(data)
        for event in proto.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    self._text(bytes(event.data), now)
            elif isinstance(event, Response) and event.status_code != 101 and not self.ready.done():
                self.ready.set_exception(HandshakeFailed(f"HTTP {event.status_code}"))
        self._flush()

    def _text(self, payload: bytes, now: int) -> None:
        if not self.ready.done():
            frame = orjson.loads(payload)
            if frame.get("type") == "ready":
                self.ready.set_result(frame)
                return
            self.ready.set_exception(HandshakeFailed(f"first frame was {payload[:120]!r}"))
            return
        if self.on_frame is not None:
            self.on_frame(self, payload, now)

    def eof_received(self) -> bool:
        self.proto.receive_eof()
        self._flush()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(HandshakeFailed(f"connection lost before ready ({self.proto.close_code})"))
        if not self.closed.done():
            self.closed.set_result(None)

    def _flush(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        for chunk in self.proto.data_to_send():
            if chunk:
                transport.write(chunk)
            elif transport.can_write_eof():
                transport.write_eof()

    @property
    def is_open(self) -> bool:
        return self.proto.state is State.OPEN and not self.closed.done()

    def send_text(self, text: str) -> None:
        self.proto.send_text(text.encode())
        self._flush()

    async def close(self, timeout: float = 2.0) -> None:
        """Close politely (close frame, wait for the hub's), and drop the TCP connection if it dawdles."""
        if self.transport is None or self.closed.done():
            return
        if self.proto.state is State.OPEN:
            self.proto.send_close(1000)
            self._flush()
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:
            self.transport.abort()


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def connect(
    url: str,
    on_frame: FrameHandler | None = None,
    *,
    tag: Any = None,
    local_host: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15.0,
) -> tuple[WsClient, dict[str, Any]]:
    """Open a socket and wait for the hub's ``ready`` frame; ``local_host`` picks the source address."""
    loop = asyncio.get_running_loop()
    wsuri = parse_uri(url)
    client = WsClient(url, on_frame, tag, headers)
    local_addr = (local_host, 0) if local_host else None
    await asyncio.wait_for(
        loop.create_connection(lambda: client, wsuri.host, wsuri.port, local_addr=local_addr), timeout
    )
    try:
        ready = await asyncio.wait_for(asyncio.shield(client.ready), timeout)
    except BaseException:
        if client.transport is not None:
            client.transport.abort()
        raise
    return client, ready
