"""What both sockets share: refusing with a close code, the receive loop, and the sender task.

The handler's own task is the receiver: it takes text frames, refuses binary and oversized ones, and
turns every refusal into an ``error`` frame on the socket's own queue (the socket stays open). The
sender is a second task draining that queue (a ``Feed``), so a slow client never stalls anyone else.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

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


async def receive(
    websocket: WebSocket, out: Feed, handle: Callable[[str], Awaitable[None]], *, max_bytes: int, where: str
) -> None:
    """Hand each text frame to ``handle`` until the peer leaves; refusals go back as ``error`` frames."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        if raw is None:
            out.deliver(0, BINARY_REFUSED)
            continue
        if len(raw) > max_bytes:
            await refuse(websocket, frame_too_big(max_bytes))
            return
        try:
            await handle(raw)
        except FrameError as exc:
            out.deliver(0, encode(exc.frame()).decode())
        except HubError as exc:
            out.deliver(0, encode(Error(code=exc.code, message=exc.message)).decode())
        except Exception:
            logger.exception("a frame failed on %s", where)
            out.deliver(0, FAILED)


async def drain(feed: Feed) -> None:
    """The sender task: ends quietly when the peer is gone or the feed overflowed (its owner closes then)."""
    with contextlib.suppress(SlowConsumer, WebSocketDisconnect, RuntimeError, OSError):
        await feed.run()
