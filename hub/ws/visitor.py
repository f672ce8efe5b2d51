"""``/ws/visitor/{tenant_uuid}``: the visitor's live conversation.

The handler's own task is the receiver (validates frames, acts); a second task drains this
socket's ``Feed``. Checks happen right after accept so a refusal carries a close code and reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

import orjson
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket, WebSocketDisconnect

from hub.chat.feed import Feed, SlowConsumer
from hub.chat.frames import FrameError, MessageIn, PingIn, ResumeIn, TypingIn, error_frame, parse_visitor_frame
from hub.chat.identity import new_session_id, resume_token, resume_token_valid
from hub.chat.replay import partial_reply
from hub.errors import HubError
from hub.node import Node
from hub.origins import normalise_origin, origin_allowed
from hub.store.models import StoredMessage, Tenant
from hub.store.transcript import get_session, messages_after

logger = logging.getLogger(__name__)

# Close codes; docs/PROTOCOL.md lists them.
CLOSE_BAD_REQUEST = 4400
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_UNKNOWN_TENANT = 4404
CLOSE_TOO_SLOW = 4408
CLOSE_FRAME_TOO_BIG = 1009


def own_origins(websocket: HTTPConnection, node: Node) -> tuple[str, ...]:
    origins = []
    if node.settings.public_url:
        parts = urlsplit(node.settings.public_url)
        with contextlib.suppress(HubError):
            origins.append(normalise_origin(f"{parts.scheme}://{parts.netloc}"))
    host = websocket.headers.get("host")
    if host:
        scheme = "https" if websocket.url.scheme in ("wss", "https") else "http"
        with contextlib.suppress(ValueError):
            origins.append(normalise_origin(f"{scheme}://{host}"))
    return tuple(origins)


class VisitorConnection:
    def __init__(self, websocket: WebSocket, node: Node, tenant: Tenant) -> None:
        self.websocket = websocket
        self.node = node
        self.tenant = tenant
        self.session_id = ""
        self.channel = ""
        self.sent_message = False
        self.stored = False  # the session exists in the store (agents' dashboards know it)
        self.feed = self._new_feed()
        self.sender: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._swept = -1

    def _new_feed(self) -> Feed:
        return Feed(
            self._send, self._backfill, max_frames=self.node.settings.send_queue_frames, on_overflow=self._too_slow
        )

    def start_sender(self) -> None:
        self.sender = asyncio.create_task(_run_sender(self))
        self._swept = self.feed.delivered  # a sweep that finds nothing newer parks it again

    def sweep(self) -> None:
        """Park the sender if nothing was delivered since the last sweep; the next frame restarts it."""
        delivered = self.feed.delivered
        if delivered == self._swept and self.sender is not None and self.feed.waiting:
            self.sender.cancel()
            self.sender = None
            self.feed.parked(self.start_sender)
        self._swept = delivered

    async def _stop_sender(self) -> None:
        if self.sender is not None:
            self.sender.cancel()
            await asyncio.gather(self.sender, return_exceptions=True)
            self.sender = None

    def _too_slow(self) -> None:
        """Stop feeding a socket that fell a whole queue behind; it may resume from its last seq."""
        if self.sender is not None:
            self.sender.cancel()
        if self._closing is None:
            self._closing = asyncio.create_task(self._close_too_slow())

    async def _close_too_slow(self) -> None:
        # The close frame waits behind what the peer has not read yet; if it never reads, uvicorn's
        # keepalive timeout ends the connection.
        with contextlib.suppress(Exception):
            await self.websocket.close(CLOSE_TOO_SLOW, "too slow: reconnect and resume from last_seq")

    async def _send(self, frame: str) -> None:
        await self.websocket.send_text(frame)

    async def _backfill(self, after_seq: int, until_seq: int | None) -> list[StoredMessage]:
        return await messages_after(self.node.engine, self.tenant.id, self.session_id, after_seq, until_seq=until_seq)

    async def open_session(self, session_id: str, last_seq: int) -> None:
        """Join the session's channel, replay what the client missed, then the reply in progress.

        Runs while no sender task drains the feed: live frames queue up meanwhile and the feed's
        seq and token checks drop what the replay already sent.
        """
        if self.channel:
            # Switching sessions: the old feed and whatever it queued stay with the old session.
            await self._leave()
            self.feed = self._new_feed()
        self.session_id = session_id
        self.channel = self.node.keys.session_channel(self.tenant.id, session_id)
        state = await get_session(self.node.engine, self.tenant.id, session_id)
        self.stored = state is not None
        self.node.presence.joined(self.tenant.id, session_id, announce=self.stored)
        # A client cannot have seen more than the session holds; trusting a larger last_seq would hide messages.
        last_seq = min(last_seq, state.last_seq if state is not None else 0)
        self.feed.last_seq = last_seq
        await self.node.fanout.join(self.channel, self.feed)
        replayed = await self._backfill(last_seq, None)
        current_seq = replayed[-1].seq if replayed else last_seq
        await self.feed.send_now(
            orjson.dumps(
                {
                    "type": "ready",
                    "session_id": session_id,
                    "resume_token": resume_token(self.node.settings.secret_key, self.tenant.id, session_id),
                    "seq": current_seq,
                }
            )
        )
        for message in replayed:
            await self.feed.send_now(orjson.dumps(message.frame()))
            self.feed.last_seq = message.seq
        await self._replay_partial_reply({message.id for message in replayed})

    async def _replay_partial_reply(self, stored_ids: set[str]) -> None:
        node = self.node
        partial = await partial_reply(node.broker, node.keys, self.tenant.id, self.session_id, stored_ids)
        if partial is None:
            return
        message_id, frames = partial
        for frame in frames:
            await self.feed.send_now(frame)
        self.feed.skip_tokens_through(message_id, len(frames) - 1)

    async def handle(self, raw: str) -> None:
        frame = parse_visitor_frame(raw, max_chars=self.node.settings.max_message_chars)
        if isinstance(frame, MessageIn):
            self.sent_message = True
            result = await self.node.chat.visitor_message(self.tenant, self.session_id, frame.text, frame.client_id)
            if result.message.duplicate:
                # A retry of a message already stored: echo the stored copy to this socket only (seq 0 skips
                # the feed's dedupe, which would drop it), nothing new is fanned out.
                self.feed.deliver(0, orjson.dumps(result.message.frame()).decode())
        elif isinstance(frame, PingIn):
            self.feed.deliver(0, '{"type":"pong"}')
        elif isinstance(frame, TypingIn):
            payload = {"type": "typing", "role": "visitor", "active": frame.active}
            self.node.chat.publish(self.tenant.id, self.session_id, 0, orjson.dumps(payload))
        elif isinstance(frame, ResumeIn):
            if self.sent_message:
                raise FrameError("resume_too_late", "resume must come before any message on this connection")
            self._check_resume(frame.session_id, frame.resume_token)
            await self._stop_sender()
            await self.open_session(frame.session_id, frame.last_seq)
            self.start_sender()

    def _check_resume(self, session_id: str, token: str) -> None:
        if not resume_token_valid(self.node.settings.secret_key, self.tenant.id, session_id, token):
            raise FrameError("bad_resume_token", "resume token does not match this session")

    async def close(self) -> None:
        tasks = [task for task in (self.sender, self._closing) if task is not None]
        if self.sender is not None:
            self.sender.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.channel:
            await self._leave()

    async def _leave(self) -> None:
        await self.node.fanout.leave(self.channel, self.feed)
        self.node.presence.left(self.tenant.id, self.session_id, announce=self.stored or self.sent_message)


async def visitor_socket(websocket: WebSocket) -> None:
    node: Node = websocket.state.node
    try:
        tenant = await node.tenants.get(websocket.path_params["tenant_uuid"])
    except Exception:
        logger.exception("tenant lookup failed")
        await websocket.accept()
        await websocket.close(1011, "the hub cannot reach its database; retry shortly")
        return
    await websocket.accept()
    if tenant is None or tenant.disabled:
        await websocket.close(CLOSE_UNKNOWN_TENANT, "unknown tenant")
        return
    if not origin_allowed(websocket.headers.get("origin"), tenant.origins, own_origins(websocket, node)):
        await websocket.close(CLOSE_FORBIDDEN_ORIGIN, "origin not allowed for this tenant")
        return
    connection = VisitorConnection(websocket, node, tenant)
    node.sockets.add(connection)
    try:
        query = websocket.query_params
        if "session_id" in query:
            try:
                last_seq = int(query.get("last_seq", "0"))
            except ValueError:
                last_seq = -1
            if last_seq < 0:
                await websocket.close(CLOSE_BAD_REQUEST, "last_seq must be a non-negative integer")
                return
            session_id = query["session_id"]
            if not resume_token_valid(node.settings.secret_key, tenant.id, session_id, query.get("resume_token", "")):
                await websocket.close(CLOSE_BAD_REQUEST, "resume token does not match this session")
                return
            await connection.open_session(session_id, last_seq)
        else:
            # Nothing is stored until the first message, so a client that resumes next leaves no empty session.
            await connection.open_session(new_session_id(), 0)
        connection.start_sender()
        await _receive(connection)
    except WebSocketDisconnect:
        pass
    except Exception:
        # Never let an error reach the HTTP error handlers: they cannot answer on a WebSocket.
        logger.exception("visitor socket failed for tenant %s", tenant.id)
        with contextlib.suppress(Exception):
            await websocket.close(1011, "internal error")
    finally:
        node.sockets.discard(connection)
        await connection.close()


PARK_IDLE_SENDERS_EVERY_S = 15.0


async def park_idle_senders(node: Node) -> None:
    """Supervised: most visitor sockets sit idle for minutes; between frames they need no sender task."""
    while True:
        await asyncio.sleep(PARK_IDLE_SENDERS_EVERY_S)
        for connection in tuple(node.sockets):
            if isinstance(connection, VisitorConnection):
                connection.sweep()


async def _receive(connection: VisitorConnection) -> None:
    websocket = connection.websocket
    max_bytes = connection.node.settings.max_frame_bytes
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        if raw is None:
            connection.feed.deliver(0, error_frame("binary_not_supported", "send JSON text frames").decode())
            continue
        if len(raw) > max_bytes:
            await websocket.close(CLOSE_FRAME_TOO_BIG, f"frame larger than {max_bytes} bytes")
            return
        try:
            await connection.handle(raw)
        except HubError as exc:
            connection.feed.deliver(0, error_frame(exc.code, exc.message).decode())
        except Exception:
            logger.exception("visitor frame failed in session %s", connection.session_id)
            connection.feed.deliver(0, error_frame("internal", "the hub could not process this frame; retry").decode())


async def _run_sender(connection: VisitorConnection) -> None:
    try:
        await connection.feed.run()
    except SlowConsumer:
        return  # _too_slow already closes the socket
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
