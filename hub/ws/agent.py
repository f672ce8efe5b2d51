"""``/ws/agent``: Mission Control's live view of a tenant's conversations, and the agent's controls.

One outgoing ``Feed`` per socket carries the session list patches (the tenant channel) and the
frames of every watched session. Each watched session has a ``Feed`` of its own that dedupes and
gap-fills by ``seq`` exactly as a visitor's does, and forwards into the socket's feed with the
``session_id`` spliced in (string concatenation: frames are never re-encoded per agent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from hub.auth.permissions import CHAT_MANAGE, Principal
from hub.auth.request import presented_token
from hub.auth.tokens import check_token
from hub.chat.control import holder_of
from hub.chat.feed import Feed, SlowConsumer
from hub.chat.frames import AgentFrame, AgentFrameError, error_frame, parse_agent_frame
from hub.chat.replay import partial_reply
from hub.errors import HubError, OwnedByOther, SessionNotFound
from hub.node import Node
from hub.origins import normalise_origin
from hub.store.models import StoredMessage, Tenant
from hub.store.sessions import list_sessions, session_summary
from hub.store.tenants import get_tenant_by_business_id
from hub.store.transcript import get_session, messages_after
from hub.supervise import supervise
from hub.ws.visitor import CLOSE_FRAME_TOO_BIG, CLOSE_TOO_SLOW, own_origins

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_UNKNOWN_TENANT = 4404
MAX_WATCHES = 50
AGENT_QUEUE_FRAMES = 4096


class _Watch:
    """One watched session: its own seq-checked feed, forwarded into the socket's feed."""

    def __init__(self, connection: AgentConnection, session_id: str) -> None:
        self.connection = connection
        self.session_id = session_id
        self.channel = connection.node.keys.session_channel(connection.tenant.id, session_id)
        self.prefix = '{"session_id":' + orjson.dumps(session_id).decode() + ","
        self.feed = Feed(self._forward, self._backfill, max_frames=AGENT_QUEUE_FRAMES)
        self.task: asyncio.Task[None] | None = None

    def tag(self, frame: str) -> str:
        return self.prefix + frame[1:]

    async def _forward(self, frame: str) -> None:
        self.connection.out.deliver(0, self.prefix + frame[1:])

    async def _backfill(self, after_seq: int, until_seq: int | None) -> list[StoredMessage]:
        node = self.connection.node
        return await messages_after(
            node.engine, self.connection.tenant.id, self.session_id, after_seq, until_seq=until_seq
        )

    async def start(self, last_seq: int, session_seq: int) -> None:
        """Join first, then replay: live frames queue in this feed meanwhile and its seq check drops repeats."""
        connection = self.connection
        node = connection.node
        out = connection.out
        self.feed.last_seq = min(last_seq, session_seq)
        await node.fanout.join(self.channel, self.feed)
        replayed = await self._backfill(self.feed.last_seq, None)
        for message in replayed:
            await out.room()
            out.deliver(0, self.tag(orjson.dumps(message.frame()).decode()))
            self.feed.last_seq = message.seq
        stored = {message.id for message in replayed}
        partial = await partial_reply(node.broker, node.keys, connection.tenant.id, self.session_id, stored)
        if partial is not None:
            message_id, frames = partial
            for frame in frames:
                out.deliver(0, self.tag(frame.decode()))
            self.feed.skip_tokens_through(message_id, len(frames) - 1)
        self.task = asyncio.create_task(self.feed.run(), name=f"agent-watch:{self.session_id}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.connection.node.fanout.leave(self.channel, self.feed)


class _TenantListener:
    """Session list patches go straight out; after a broker outage the whole list is sent again."""

    def __init__(self, connection: AgentConnection) -> None:
        self.connection = connection

    def deliver(self, seq: int, frame: str) -> None:
        self.connection.out.deliver(0, frame)
        # Only takeover, handback, close, new sessions and presence changes carry these: parsing them is cheap.
        if '"owner":' in frame or '"visitor_online":' in frame:
            patch = orjson.loads(frame)["session"]
            if "owner" in patch:
                self.connection.follow_owner(patch)
            if "visitor_online" in patch:
                self.connection.online_view[patch["id"]] = patch["visitor_online"]

    def resync(self) -> None:
        self.connection.resend_snapshot()


class AgentConnection:
    def __init__(self, websocket: WebSocket, node: Node, principal: Principal, tenant: Tenant) -> None:
        self.websocket = websocket
        self.node = node
        self.principal = principal
        self.tenant = tenant
        self.holder = holder_of(principal)
        self.out = Feed(
            self._send,
            _nothing_to_backfill,
            max_frames=max(node.settings.send_queue_frames, AGENT_QUEUE_FRAMES),
            on_overflow=self._too_slow,
        )
        self.tenant_listener = _TenantListener(self)
        self.watches: dict[str, _Watch] = {}
        self.claims: set[str] = set()  # sessions whose takeover claim this connection keeps renewing
        self.online_view: dict[str, bool] = {}  # presence as this dashboard was last told it
        self.sender: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    def follow_owner(self, patch: dict[str, Any]) -> None:
        """Keep renewing this agent's claims wherever it took them over (another tab, another node)."""
        session_id, owner = patch.get("id"), patch.get("owner")
        if not isinstance(session_id, str):
            return
        mine = isinstance(owner, dict) and owner.get("id") == self.principal.user_id
        if mine and session_id not in self.claims and self.principal.tenant_id == self.tenant.id:
            self.claims.add(session_id)
            self.node.control.hold(self.tenant.id, session_id, self.holder)
        elif not mine and session_id in self.claims:
            self.claims.discard(session_id)
            self.node.control.unhold(self.tenant.id, session_id, self.holder)

    async def _send(self, frame: str) -> None:
        await self.websocket.send_text(frame)

    def _too_slow(self) -> None:
        if self.sender is not None:
            self.sender.cancel()
        self._spawn(self._close(CLOSE_TOO_SLOW, "too slow: reconnect and watch again with last_seq"))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.websocket.close(code, reason)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def snapshot(self) -> bytes:
        sessions = await list_sessions(self.node.engine, self.tenant.id)
        online = await self.node.presence.online(self.tenant.id)
        self.online_view = {session.id: session.id in online for session in sessions}
        return orjson.dumps({"type": "sessions", "sessions": [s.to_json(s.id in online) for s in sessions]})

    async def reconcile_presence(self) -> None:
        """A node that dies announces nothing: its visitors' presence lapses, and this notices."""
        while True:
            await asyncio.sleep(self.node.presence.ttl_s)
            try:
                online = await self.node.presence.online(self.tenant.id)
            except Exception as exc:
                logger.warning("reading presence failed: %s", exc)
                continue
            for session_id, shown in list(self.online_view.items()):
                if shown != (session_id in online):
                    self.online_view[session_id] = not shown
                    self.answer({"type": "session", "session": {"id": session_id, "visitor_online": not shown}})

    def resend_snapshot(self) -> None:
        async def resend() -> None:
            try:
                self.out.deliver(0, (await self.snapshot()).decode())
            except Exception:
                logger.exception("re-sending the session list failed")

        self._spawn(resend())

    async def open(self) -> None:
        """Ready and the snapshot go out before live patches, which queue meanwhile (none is lost)."""
        await self.node.fanout.join(self.node.keys.tenant_channel(self.tenant.id), self.tenant_listener)
        ready = {
            "type": "ready",
            "agent": {"id": self.principal.user_id, "name": self.principal.name, "role": self.principal.role},
            "tenant": {"id": self.tenant.id, "business_id": self.tenant.business_id, "name": self.tenant.name},
            "node": self.node.settings.node_id,
        }
        await self.out.send_now(orjson.dumps(ready))
        await self.out.send_now(await self.snapshot())
        if self.principal.tenant_id == self.tenant.id:
            self.claims.update(await self.node.control.reclaim(self.tenant.id, self.principal))
        self.sender = asyncio.create_task(_run_sender(self))
        self._spawn(supervise("agent-presence", self.reconcile_presence))

    async def close(self) -> None:
        for task in (self.sender, *self._background):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self.sender, *self._background) if t is not None), return_exceptions=True)
        for watch in list(self.watches.values()):
            await watch.stop()
        self.watches.clear()
        for session_id in self.claims:
            self.node.control.unhold(self.tenant.id, session_id, self.holder)
        self.claims.clear()
        await self.node.fanout.leave(self.node.keys.tenant_channel(self.tenant.id), self.tenant_listener)

    def answer(self, frame: dict[str, Any]) -> None:
        self.out.deliver(0, orjson.dumps(frame).decode())

    def ok(self, command: AgentFrame, **extra: Any) -> None:
        body: dict[str, Any] = {"type": "ok", "action": command.type, "session_id": command.session_id, **extra}
        if command.ref is not None:
            body["ref"] = command.ref
        self.answer(body)

    async def handle(self, raw: str) -> None:
        command = parse_agent_frame(raw, max_chars=self.node.settings.max_message_chars)
        try:
            await self._act(command)
        except HubError as exc:
            body: dict[str, Any] = {"type": "error", "code": exc.code, "message": exc.message}
            body["session_id"] = command.session_id
            if command.ref is not None:
                body["ref"] = command.ref
            if isinstance(exc, OwnedByOther):
                body["owner"] = exc.owner
            self.answer(body)

    async def _act(self, command: AgentFrame) -> None:
        node, tenant, session_id = self.node, self.tenant, command.session_id
        kind = command.type
        if kind == "ping":
            self.out.deliver(0, '{"type":"pong"}')
        elif kind == "watch":
            await self._watch(command)
        elif kind == "unwatch":
            watch = self.watches.pop(session_id, None)
            if watch is not None:
                await watch.stop()
            self.ok(command)
        elif kind == "takeover":
            await node.control.takeover(tenant, session_id, self.principal, force=command.force)
            if session_id not in self.claims:
                self.claims.add(session_id)
                node.control.hold(tenant.id, session_id, self.holder)
            self.ok(command)
        elif kind == "message":
            result = await node.control.agent_message(
                tenant, session_id, self.principal, command.text, command.client_id
            )
            self.ok(command, seq=result.message.seq, id=result.message.id)
        elif kind == "typing":
            if session_id not in self.watches:
                raise AgentFrameError("not_watching", "watch the session before sending typing to it")
            typing = {"type": "typing", "role": "agent", "active": command.active, "author": self.principal.name}
            node.chat.publish(tenant.id, session_id, 0, orjson.dumps(typing))
        elif kind in ("handback", "close"):
            action = node.control.handback if kind == "handback" else node.control.close
            await action(tenant, session_id, self.principal, force=command.force)
            if session_id in self.claims:
                self.claims.discard(session_id)
                node.control.unhold(tenant.id, session_id, self.holder)
            self.ok(command)

    async def _watch(self, command: AgentFrame) -> None:
        session_id = command.session_id
        previous = self.watches.pop(session_id, None)
        if previous is not None:
            await previous.stop()
        if len(self.watches) >= MAX_WATCHES:
            raise AgentFrameError("too_many_watches", f"at most {MAX_WATCHES} sessions can be watched at once")
        state = await get_session(self.node.engine, self.tenant.id, session_id)
        summary = await session_summary(self.node.engine, self.tenant.id, session_id)
        if state is None or summary is None:
            raise SessionNotFound("no such session in this tenant")
        online = session_id in await self.node.presence.online(self.tenant.id)
        self.answer(
            {"type": "watching", "session_id": session_id, "seq": state.last_seq, "session": summary.to_json(online)}
        )
        watch = _Watch(self, session_id)
        self.watches[session_id] = watch
        await watch.start(command.last_seq, state.last_seq)
        self.ok(command)


async def _nothing_to_backfill(after_seq: int, until_seq: int | None) -> list[StoredMessage]:
    return []  # the socket's own feed carries only seq-0 frames; watched sessions backfill themselves


async def _authenticate(websocket: WebSocket, node: Node) -> tuple[int, str] | tuple[Principal, Tenant]:
    """The agent and tenant, or the close code and reason to refuse with."""
    presented = presented_token(websocket)
    if presented is None:
        return CLOSE_UNAUTHENTICATED, "log in first (cookie session or Authorization: Bearer)"
    token, via = presented
    checked = await check_token(node.engine, token, via)
    if checked is None:
        return CLOSE_UNAUTHENTICATED, "the login token is unknown, expired or revoked; log in again"
    if via == "cookie":
        # Browsers send cookies on cross-site WebSockets too: only the hub's own pages may use them.
        raw_origin = websocket.headers.get("origin")
        try:
            origin = normalise_origin(raw_origin) if raw_origin else None
        except HubError:
            origin = None
        if origin is None or origin not in own_origins(websocket, node):
            return CLOSE_FORBIDDEN, "a cookie session may only connect from the hub's own pages"
    principal = checked.principal
    if not principal.can(CHAT_MANAGE):
        return CLOSE_FORBIDDEN, "this account lacks the chat.manage permission"
    business_id = websocket.query_params.get("business_id")
    if business_id is None or business_id == principal.business_id:
        tenant = await node.tenants.get(principal.tenant_id)
    elif not principal.is_platform_admin:
        return CLOSE_FORBIDDEN, "only platform admins may open another tenant"
    else:
        tenant = await get_tenant_by_business_id(node.engine, business_id[:64])
    if tenant is None:
        return CLOSE_UNKNOWN_TENANT, "no tenant with that business_id"
    return principal, tenant


async def agent_socket(websocket: WebSocket) -> None:
    node: Node = websocket.state.node
    await websocket.accept()
    try:
        found = await _authenticate(websocket, node)
    except Exception:
        logger.exception("agent authentication failed")
        await websocket.close(1011, "the hub cannot reach its database; retry shortly")
        return
    if isinstance(found[0], int):
        code, reason = found
        await websocket.close(code, str(reason))
        return
    principal, tenant = found
    assert isinstance(principal, Principal) and isinstance(tenant, Tenant)
    connection = AgentConnection(websocket, node, principal, tenant)
    node.sockets.add(connection)
    try:
        await connection.open()
        await _receive(connection)
    except WebSocketDisconnect:
        pass
    except Exception:
        logger.exception("agent socket failed for tenant %s", tenant.id)
        with contextlib.suppress(Exception):
            await websocket.close(1011, "internal error")
    finally:
        node.sockets.discard(connection)
        await connection.close()


async def _receive(connection: AgentConnection) -> None:
    websocket = connection.websocket
    max_bytes = connection.node.settings.max_frame_bytes
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        if raw is None:
            connection.out.deliver(0, error_frame("binary_not_supported", "send JSON text frames").decode())
            continue
        if len(raw) > max_bytes:
            await websocket.close(CLOSE_FRAME_TOO_BIG, f"frame larger than {max_bytes} bytes")
            return
        try:
            await connection.handle(raw)
        except AgentFrameError as exc:
            body: dict[str, Any] = {"type": "error", "code": exc.code, "message": exc.message}
            if exc.session_id is not None:
                body["session_id"] = exc.session_id
            if exc.ref is not None:
                body["ref"] = exc.ref
            connection.answer(body)
        except Exception:
            logger.exception("agent frame failed in tenant %s", connection.tenant.id)
            connection.out.deliver(0, error_frame("internal", "the hub could not process this frame; retry").decode())


async def _run_sender(connection: AgentConnection) -> None:
    try:
        await connection.out.run()
    except SlowConsumer:
        return
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
