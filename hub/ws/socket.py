"""What both sockets share: refusing with a close code, the receive loop, and the sender task.

The handler's own task is the receiver: it takes text frames, refuses binary and oversized ones, and
turns every refusal into an ``error`` frame on the socket's own queue (the socket stays open). The
sender is a second task draining that queue (a ``Feed``), so a slow client never stalls anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect

from hub.chat.feed import Feed, SlowConsumer
from hub.errors import HubError
from hub.metrics import FrameCounts, Metrics
from hub.protocol import TOO_MANY_REFUSALS, Error, FrameError, Refusal, encode, frame_too_big
from hub.ws.limits import FrameBudget

logger = logging.getLogger(__name__)

FAILED = encode(Error(code="internal", message="the hub could not process this frame; retry")).decode()
# How long a socket closed for its refusals may take to read the error frames queued before the close.
FLUSH_BEFORE_CLOSE_S = 2.0


async def refuse(websocket: WebSocket, refusal: Refusal) -> None:
    with contextlib.suppress(Exception):  # the peer may be gone already
        await websocket.close(refusal.code, refusal.reason)


class Receiver(Protocol):
    """A socket's own side: its outgoing feed, its frame budget, and what it does with one client frame."""

    @property
    def out(self) -> Feed: ...

    @property
    def budget(self) -> FrameBudget: ...

    async def handle(self, raw: str) -> None: ...


async def receive(
    websocket: WebSocket, connection: Receiver, *, max_bytes: int, metrics: Metrics, frames: FrameCounts
) -> None:
    """Hand each text frame to the connection until the peer leaves; refusals go back as ``error`` frames.

    Answers to the client's own frames (pongs, errors) wait for room in its queue, so a client that
    sends faster than it reads stops being read instead of overflowing its queue. A client that keeps
    being refused is closed with 1008 once it has been sent the errors queued before.

    It lives as long as the socket, so it holds nothing per socket beyond its arguments (idle sockets
    are most of a node's memory).
    """
    budget = connection.budget
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        frames.received += 1
        await connection.out.room()
        raw = message.get("text")
        try:
            budget.frame()
            if raw is None:
                raise FrameError("binary_not_supported", "send JSON text frames")
            if len(raw) > max_bytes:
                await refuse(websocket, frame_too_big(max_bytes))
                return
            await connection.handle(raw)
        except FrameError as exc:
            if exc.code == "rate_limited":
                metrics.socket_rate_limited.inc()
            connection.out.deliver(0, encode(exc.frame()).decode())
            if not budget.refused():
                await close_when_sent(websocket, connection.out, TOO_MANY_REFUSALS)
                return
        except HubError as exc:
            connection.out.deliver(0, encode(Error(code=exc.code, message=exc.message)).decode())
        except Exception:
            logger.exception("a frame failed on %r", connection)
            connection.out.deliver(0, FAILED)  # the connection may have moved to another feed meanwhile


async def close_when_sent(websocket: WebSocket, feed: Feed, refusal: Refusal) -> None:
    """Close once the frames queued before the close are sent; a peer that does not read them gets it anyway."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FLUSH_BEFORE_CLOSE_S
    while not feed.waiting and not feed.overflowed and loop.time() < deadline:
        await asyncio.sleep(0.01)  # only ever on this path: the feed has no "drained" signal to wait on
    await refuse(websocket, refusal)


async def drain(feed: Feed) -> None:
    """The sender task: ends quietly when the peer is gone or the feed overflowed (its owner closes then)."""
    with contextlib.suppress(SlowConsumer, WebSocketDisconnect, RuntimeError, OSError):
        await feed.run()
