"""What both sockets share: refusing with a close code, the receive loop, and the sender task.

The handler's own task is the receiver: it takes text frames, refuses binary and oversized ones, and
turns every refusal into an ``error`` frame on the socket's own queue (the socket stays open). The
sender is a second task draining that queue (a ``Feed``), so a slow client never stalls anyone else.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect

from hub.chat.feed import Feed, SlowConsumer
from hub.errors import HubError
from hub.protocol import Error, FrameError, Refusal, encode, frame_too_big

logger = logging.getLogger(__name__)

BINARY_REFUSED = encode(Error(code="binary_not_supported", message="send JSON text frames")).decode()
FAILED = encode(Error(code="internal", message="the hub could not process this frame; retry")).decode()


async def refuse(websocket: WebSocket, refusal: Refusal) -> None:
    with contextlib.suppress(Exception):  # the peer may be gone already
        await websocket.close(refusal.code, refusal.reason)


class Receiver(Protocol):
    """A socket's own side: its outgoing feed, and what it does with one client frame."""

    @property
    def out(self) -> Feed: ...

    async def handle(self, raw: str) -> None: ...


async def receive(websocket: WebSocket, connection: Receiver, *, max_bytes: int) -> None:
    """Hand each text frame to the connection until the peer leaves; refusals go back as ``error`` frames.

    It lives as long as the socket, so it holds nothing per socket beyond its arguments (idle sockets
    are most of a node's memory).
    """
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        if raw is None:
            connection.out.deliver(0, BINARY_REFUSED)
            continue
        if len(raw) > max_bytes:
            await refuse(websocket, frame_too_big(max_bytes))
            return
        try:
            await connection.handle(raw)
        except FrameError as exc:
            connection.out.deliver(0, encode(exc.frame()).decode())
        except HubError as exc:
            connection.out.deliver(0, encode(Error(code=exc.code, message=exc.message)).decode())
        except Exception:
            logger.exception("a frame failed on %r", connection)
            connection.out.deliver(0, FAILED)  # the connection may have moved to another feed meanwhile


async def drain(feed: Feed) -> None:
    """The sender task: ends quietly when the peer is gone or the feed overflowed (its owner closes then)."""
    with contextlib.suppress(SlowConsumer, WebSocketDisconnect, RuntimeError, OSError):
        await feed.run()
