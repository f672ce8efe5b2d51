"""``/ws/visitor/{tenant_uuid}``: the visitor's live conversation.

The handler's own task is the receiver (validates frames, acts); a second task drains this
socket's ``Feed``. Checks happen right after accept so a refusal carries a close code and reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from hub.chat.feed import Feed, SlowConsumer
from hub.chat.frames import FrameError, MessageIn, PingIn, ResumeIn, TypingIn, error_frame, parse_visitor_frame
from hub.chat.identity import new_session_id, resume_token, resume_token_valid
from hub.node import Node
from hub.origins import normalise_origin, origin_allowed
from hub.store.models import StoredMessage, Tenant
from hub.store.transcript import messages_after

logger = logging.getLogger(__name__)

# Close codes; docs/PROTOCOL.md lists them.
CLOSE_BAD_REQUEST = 4400
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_UNKNOWN_TENANT = 4404
CLOSE_TOO_SLOW = 4408
CLOSE_FRAME_TOO_BIG = 1009


def own_origins(websocket: WebSocket, node: Node) -> tuple[str, ...]:
    origins = []
    if node.settings.public_url:
        origins.append(normalise_origin(node.settings.public_url))
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
        self.feed = Feed(self._send, self._backfill, max_frames=node.settings.send_queue_frames)

    async def _send(self, frame: str) -> None:
        await self.websocket.send_text(frame)

    async def _backfill(self, after_seq: int, until_seq: int | None) -> list[StoredMessage]:
        return await messages_after(self.node.engine, self.tenant.id, self.session_id, after_seq, until_seq=until_seq)

    async def open_session(self, session_id: str, last_seq: int) -> None:
        """Join the session's channel, replay what the client missed, then the reply in progress."""
        if self.channel:
            await self.node.fanout.leave(self.channel, self.feed)
        self.session_id = session_id
        self.channel = self.node.keys.session_channel(self.tenant.id, session_id)
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
        buffer = await self.node.broker.buffer_read(self.node.keys.stream_buffer(self.tenant.id, self.session_id))
        if not buffer:
            return
        message_id = buffer[0].decode()
        if message_id in stored_ids:
            return
        for index, token in enumerate(buffer[1:]):
            await self.feed.send_now(
                orjson.dumps({"type": "token", "message_id": message_id, "index": index, "text": token.decode()})
            )
        self.feed.skip_tokens_through(message_id, len(buffer) - 2)

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
            await self.open_session(frame.session_id, frame.last_seq)

    def _check_resume(self, session_id: str, token: str) -> None:
        if not resume_token_valid(self.node.settings.secret_key, self.tenant.id, session_id, token):
            raise FrameError("bad_resume_token", "resume token does not match this session")

    async def close(self) -> None:
        if self.channel:
            await self.node.fanout.leave(self.channel, self.feed)


async def visitor_socket(websocket: WebSocket) -> None:
    node: Node = websocket.state.node
    tenant = await node.tenants.get(websocket.path_params["tenant_uuid"])
    await websocket.accept()
    if tenant is None or tenant.disabled:
        await websocket.close(CLOSE_UNKNOWN_TENANT, "unknown tenant")
        return
    if not origin_allowed(websocket.headers.get("origin"), tenant.origins, own_origins(websocket, node)):
        await websocket.close(CLOSE_FORBIDDEN_ORIGIN, "origin not allowed for this tenant")
        return
    connection = VisitorConnection(websocket, node, tenant)
    node.sockets.add(connection)
    sender: asyncio.Task[None] | None = None
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
        sender = asyncio.create_task(_run_sender(connection))
        await _receive(connection)
    except WebSocketDisconnect:
        pass
    finally:
        node.sockets.discard(connection)
        if sender is not None:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        await connection.close()


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
        except FrameError as exc:
            connection.feed.deliver(0, error_frame(exc.code, exc.message).decode())
        except Exception:
            logger.exception("visitor frame failed in session %s", connection.session_id)
            connection.feed.deliver(0, error_frame("internal", "the hub could not process this frame; retry").decode())


async def _run_sender(connection: VisitorConnection) -> None:
    websocket = connection.websocket
    try:
        await connection.feed.run()
    except SlowConsumer:
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(CLOSE_TOO_SLOW, "too slow: reconnect and resume from last_seq")
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
