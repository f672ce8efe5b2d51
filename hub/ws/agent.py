"""``/ws/agent``: Mission Control's live view of a tenant's conversations, and the agent's controls.

One outgoing ``Feed`` per socket carries the session list patches (the tenant channel) and the
frames of every watched session. Each watched session has a ``Feed`` of its own that dedupes and
gap-fills by ``seq`` exactly as a visitor's does, and forwards into the socket's feed with the
``session_id`` spliced in (``hub.protocol.tag_session``: frames are never re-encoded per agent).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import weakref
from collections.abc import Coroutine
from typing import Any

import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect

from hub import logs
from hub.auth.permissions import CHAT_MANAGE, Principal
from hub.auth.request import presented_token
from hub.auth.tokens import check_token
from hub.chat.assignment import Assignments
from hub.chat.control import Agent, SessionControl, holder_of
from hub.chat.conversations import Conversations
from hub.chat.dashboard import Dashboard
from hub.chat.feed import Feed
from hub.chat.feedback import Feedback
from hub.chat.join import Joiner
from hub.chat.notes import Notes
from hub.errors import Forbidden, HubError, OwnedByOther, SessionNotFound, TenantNotFound
from hub.metrics import Metrics
from hub.node import Services
from hub.origins import normalise_origin, own_origins
from hub.protocol import (
    AGENT_TOO_SLOW,
    FOREIGN_COOKIE,
    INTERNAL,
    MAX_WATCHES,
    NO_CHAT_MANAGE,
    NO_DATABASE,
    NO_SUCH_BUSINESS,
    NOT_LOGGED_IN,
    NOT_PLATFORM_ADMIN,
    PONG,
    TOKEN_REFUSED,
    AgentIn,
    AgentInfo,
    AgentPingIn,
    AgentReady,
    AgentSayIn,
    AgentTypingIn,
    AssignIn,
    CloseIn,
    Error,
    FrameError,
    HandbackIn,
    LabelIn,
    Mentioned,
    MentionsRead,
    NoteFrame,
    NoteIn,
    NotesFrame,
    Ok,
    Owner,
    Refusal,
    SessionChange,
    SessionPatch,
    StaffRenamed,
    TakeoverIn,
    TenantInfo,
    TransferIn,
    UnwatchIn,
    WatchIn,
    Watching,
    encode,
    parse_agent_frame,
    session_prefix,
    tag_session,
)
from hub.settings import Settings
from hub.store.models import StoredMessage, Tenant
from hub.supervise import supervise
from hub.ws.limits import FrameBudget, socket_limits
from hub.ws.socket import drain, receive, refuse

logger = logging.getLogger(__name__)

AGENT_QUEUE_FRAMES = 4096
_patch_decoder = msgspec.json.Decoder(SessionPatch)
_renamed_decoder = msgspec.json.Decoder(StaffRenamed)
_note_decoder = msgspec.json.Decoder(NoteFrame)
_mentioned_decoder = msgspec.json.Decoder(Mentioned)
_mentions_read_decoder = msgspec.json.Decoder(MentionsRead)


class _Watch:
    """One watched session: its own seq-checked feed, forwarded into the socket's feed."""

    def __init__(self, connection: AgentConnection, session_id: str) -> None:
        self.connection = connection
        self.session_id = session_id
        self.prefix = session_prefix(session_id)
        self.feed = Feed(self._forward, self._backfill, max_frames=AGENT_QUEUE_FRAMES)
        self.task: asyncio.Task[None] | None = None

    async def _backfill(self, after_seq: int, until_seq: int | None) -> list[StoredMessage]:
        return await self.connection.joiner.transcript_after(
            self.connection.tenant.id, self.session_id, after_seq, until_seq
        )

    async def _forward(self, frame: str) -> None:
        self.connection.out.deliver(0, tag_session(self.prefix, frame))

    async def _replay(self, frame: bytes) -> None:
        """Backlog frames wait for room: a long transcript must not overflow a dashboard that keeps up."""
        await self.connection.out.room()
        self.connection.out.deliver(0, tag_session(self.prefix, frame.decode()))

    async def start(self, last_seq: int) -> None:
        """Join first, then answer ``watching`` and replay; live frames queue in this feed meanwhile."""
        connection = self.connection
        tenant_id = connection.tenant.id
        backlog = await connection.joiner.join(self.feed, tenant_id, self.session_id, last_seq)
        try:
            row = await connection.dashboard.row(tenant_id, self.session_id) if backlog.state is not None else None
            if backlog.state is None or row is None:
                raise SessionNotFound("no such session in this tenant")
            connection.answer(Watching(session_id=self.session_id, seq=backlog.state.last_seq, session=row))
            await backlog.send(self.feed, self._replay)
            await self._ratings()
            notes = await connection.notes.listed(tenant_id, self.session_id)
            if notes:  # notes written meanwhile may also come live: the client keeps one of each id
                connection.answer(NotesFrame(session_id=self.session_id, notes=notes))
        except BaseException:
            await connection.joiner.leave(self.feed, tenant_id, self.session_id)
            raise
        self.task = asyncio.create_task(self.feed.run(), name=f"agent-watch:{self.session_id}")

    async def _ratings(self) -> None:
        """The visitor's ratings so far, after the messages they rate (later ones come live, after these).
        They are a help to the agent, so a failure to read them is logged and the watch goes on."""
        connection = self.connection
        try:
            frames = await connection.feedback.of_session(connection.tenant.id, self.session_id)
        except Exception as exc:
            logger.warning("reading the ratings of session %s failed: %r", self.session_id, exc)
            return
        for frame in frames:
            await self._replay(encode(frame))

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None
        await self.connection.joiner.leave(self.feed, self.connection.tenant.id, self.session_id)
        self.feed.close()


class _TenantListener:
    """Session list patches go straight out; after a broker outage the whole list is sent again. Notes go out
    only for the sessions this socket watches, mention alerts and reads only to that person (all are rare)."""

    def __init__(self, connection: AgentConnection) -> None:
        # Weak: the connection holds this listener, and a cycle would keep a closed socket (its buffers
        # included) until the cycle collector's next full pass, which a serving node runs rarely.
        self._connection = weakref.ref(connection)

    def deliver(self, seq: int, frame: str) -> None:
        connection = self._connection()
        if connection is None:
            return
        if frame.startswith('{"type":"note",'):
            if _note_decoder.decode(frame).session_id in connection.note_sessions:
                connection.out.deliver(0, frame)
            return
        if frame.startswith('{"type":"mentioned",'):
            if _mentioned_decoder.decode(frame).agent_id == connection.agent.id:
                connection.out.deliver(0, frame)
            return
        if frame.startswith('{"type":"mentions_read",'):
            if _mentions_read_decoder.decode(frame).agent_id == connection.agent.id:
                connection.out.deliver(0, frame)
            return
        connection.out.deliver(0, frame)
        if frame.startswith('{"type":"renamed"'):
            connection.renamed(_renamed_decoder.decode(frame))
            return
        # Only takeover, handback, close, new sessions and presence changes carry these: parsing them is cheap.
        if '"owner":' in frame or '"visitor_online":' in frame:
            change = _patch_decoder.decode(frame).session
            if change.owner is not msgspec.UNSET:
                connection.follow_owner(change)
            if isinstance(change.visitor_online, bool):
                connection.online_view[change.id] = change.visitor_online

    def resync(self) -> None:
        connection = self._connection()
        if connection is not None:
            connection.resend_snapshot()


class AgentConnection:
    def __init__(
        self,
        websocket: WebSocket,
        principal: Principal,
        tenant: Tenant,
        settings: Settings,
        chat: Conversations,
        control: SessionControl,
        dashboard: Dashboard,
        joiner: Joiner,
        metrics: Metrics,
        feedback: Feedback,
        assignments: Assignments,
        notes: Notes,
        token_hash: str = "",
    ) -> None:
        self.websocket = websocket
        self.token_hash = token_hash  # the login it lives on: ``hub.signouts`` closes it when that ends
        self.metrics = metrics
        self.frames = metrics.agent_frames
        self.principal = principal
        self.agent = Agent(principal.user_id, principal.name, principal.email)
        self.tenant = tenant
        self.settings = settings
        self.chat = chat
        self.control = control
        self.dashboard = dashboard
        self.assignments = assignments
        self.joiner = joiner
        self.feedback = feedback
        self.notes = notes
        self.holder = holder_of(self.agent)
        self.own_tenant = principal.tenant_id == tenant.id  # a platform admin visiting holds no claims here
        self.out = Feed(
            self._send,
            _nothing_to_backfill,
            max_frames=max(settings.send_queue_frames, AGENT_QUEUE_FRAMES),
            on_overflow=self._too_slow,
        )
        self.budget = FrameBudget(socket_limits(settings))
        self.tenant_listener = _TenantListener(self)
        self.watches: dict[str, _Watch] = {}
        self.note_sessions: set[str] = set()  # watched, or being joined: their live notes are passed on
        self.claims: set[str] = set()  # sessions whose takeover claim this connection keeps renewing
        self.online_view: dict[str, bool] = {}  # presence as this dashboard was last told it
        self.sender: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.present = False  # counted as an agent in Mission Control (visitors asking for a person hear so)

    def __repr__(self) -> str:
        return f"agent socket of {self.agent.id} in tenant {self.tenant.id}"

    @property
    def user_id(self) -> str:
        return self.principal.user_id

    def end(self, refusal: Refusal) -> None:
        """The login ended (deactivated, new password): stop sending and close with its code and reason."""
        if self.sender is not None:
            self.sender.cancel()
        self._spawn(refuse(self.websocket, refusal))

    def renamed(self, renamed: StaffRenamed) -> None:
        """This agent's new display name signs their next messages, joins and typing (claims already
        held keep the name they were taken with until they end)."""
        if renamed.agent_id == self.agent.id:
            self.agent = dataclasses.replace(self.agent, name=renamed.name, claim_name=self.principal.name)

    def follow_owner(self, change: SessionChange) -> None:
        """Keep renewing this agent's claims wherever it took them over (another tab, another node)."""
        owner = change.owner
        mine = isinstance(owner, Owner) and owner.id == self.agent.id
        if mine and change.id not in self.claims and self.own_tenant:
            self.claims.add(change.id)
            self.control.hold(self.tenant.id, change.id, self.holder, id(self))
        elif not mine and change.id in self.claims:
            self.claims.discard(change.id)
            self.control.unhold(self.tenant.id, change.id, self.holder, id(self))

    async def _send(self, frame: str) -> None:
        self.frames.sent += 1
        await self.websocket.send_text(frame)

    def _too_slow(self) -> None:
        self.metrics.agent_slow_closes.inc()
        if self.sender is not None:
            self.sender.cancel()
        self._spawn(refuse(self.websocket, AGENT_TOO_SLOW))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def reconcile_presence(self) -> None:
        """A node that dies announces nothing: its visitors' presence lapses, and this notices."""
        while True:
            await asyncio.sleep(self.dashboard.presence.ttl_s)
            try:
                online = await self.dashboard.online(self.tenant.id)
            except Exception as exc:
                logger.warning("reading presence failed: %s", exc)
                continue
            for session_id, shown in list(self.online_view.items()):
                if shown != (session_id in online):
                    self.online_view[session_id] = not shown
                    self.answer(SessionPatch(session=SessionChange(id=session_id, visitor_online=not shown)))

    def resend_snapshot(self) -> None:
        async def resend() -> None:
            try:
                sessions, self.online_view = await self.dashboard.snapshot(self.tenant.id)
                self.out.deliver(0, sessions.decode())
            except Exception:
                logger.exception("re-sending the session list failed")

        self._spawn(resend())

    async def open(self) -> None:
        """Ready and the snapshot go out before live patches, which queue meanwhile (none is lost)."""
        await self.dashboard.follow(self.tenant.id, self.tenant_listener)
        if self.own_tenant:  # counted online before it hears ready: a visitor asking from then on is told so
            self.dashboard.presence.agent_joined(self.tenant.id, self.agent.id)
            self.present = True
        ready = AgentReady(
            agent=AgentInfo(self.agent.id, self.agent.name, self.principal.role),
            tenant=TenantInfo(self.tenant.id, self.tenant.business_id, self.tenant.name),
            node=self.settings.node_id,
        )
        await self.out.send_now(encode(ready))
        sessions, self.online_view = await self.dashboard.snapshot(self.tenant.id)
        await self.out.send_now(sessions)
        if self.own_tenant:
            self.claims.update(await self.control.reclaim(self.tenant.id, self.agent, id(self)))
        self.sender = asyncio.create_task(drain(self.out))
        self._spawn(supervise("agent-presence", self.reconcile_presence))

    async def close(self) -> None:
        for task in (self.sender, *self._background):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self.sender, *self._background) if t is not None), return_exceptions=True)
        self.sender = None
        self._background.clear()
        for watch in list(self.watches.values()):
            await watch.stop()
        self.watches.clear()
        for session_id in self.claims:
            self.control.unhold(self.tenant.id, session_id, self.holder, id(self))
        self.claims.clear()
        if self.present:
            self.present = False
            self.dashboard.presence.agent_left(self.tenant.id, self.agent.id)
        await self.dashboard.unfollow(self.tenant.id, self.tenant_listener)
        self.out.close()

    def answer(self, frame: msgspec.Struct) -> None:
        self.out.deliver(0, encode(frame).decode())

    async def handle(self, raw: str) -> None:
        command = parse_agent_frame(raw, max_chars=self.settings.max_message_chars)
        try:
            await self._act(command)
        except HubError as exc:
            session_id = None if isinstance(command, AgentPingIn) else command.session_id
            owner = Owner(**exc.owner) if isinstance(exc, OwnedByOther) else None
            self.answer(Error(code=exc.code, message=exc.message, session_id=session_id, ref=command.ref, owner=owner))

    async def _act(self, command: AgentIn) -> None:
        if isinstance(command, AgentPingIn):
            self.out.deliver(0, PONG)
            return
        tenant, session_id = self.tenant, command.session_id
        if isinstance(command, WatchIn):
            await self._watch(session_id, command.last_seq)
            self.answer(Ok(action="watch", session_id=session_id, ref=command.ref))
        elif isinstance(command, UnwatchIn):
            self.note_sessions.discard(session_id)
            watch = self.watches.pop(session_id, None)
            if watch is not None:
                await watch.stop()
            self.answer(Ok(action="unwatch", session_id=session_id, ref=command.ref))
        elif isinstance(command, TakeoverIn):
            await self.control.takeover(tenant, session_id, self.agent, force=command.force, assign=self.own_tenant)
            # Held again even if this connection held it already: the node may have stopped renewing it (the claim
            # was lost with Redis's data while nobody else took it), and this takeover claimed it anew.
            self.claims.add(session_id)
            self.control.hold(tenant.id, session_id, self.holder, id(self))
            self.answer(Ok(action="takeover", session_id=session_id, ref=command.ref))
        elif isinstance(command, AgentSayIn):
            result = await self.control.agent_message(tenant, session_id, self.agent, command.text, command.client_id)
            message = result.message
            self.answer(Ok(action="message", session_id=session_id, ref=command.ref, seq=message.seq, id=message.id))
        elif isinstance(command, AgentTypingIn):
            if session_id not in self.watches:
                raise FrameError("not_watching", "watch the session before sending typing to it")
            self.chat.typing(tenant.id, session_id, "agent", command.active, author=self.agent.name)
        elif isinstance(command, HandbackIn):
            await self.control.handback(tenant, session_id, self.agent, force=command.force)
            self._release(session_id)
            self.answer(Ok(action="handback", session_id=session_id, ref=command.ref))
        elif isinstance(command, CloseIn):
            await self.control.close(tenant, session_id, self.agent, force=command.force)
            self._release(session_id)
            self.answer(Ok(action="close", session_id=session_id, ref=command.ref))
        elif isinstance(command, AssignIn):
            await self.assignments.assign(tenant.id, session_id, command.agent_id, self.agent)
            self.answer(Ok(action="assign", session_id=session_id, ref=command.ref))
        elif isinstance(command, TransferIn):
            await self.assignments.transfer(tenant.id, session_id, command.agent_id, command.note, self.agent)
            self.answer(Ok(action="transfer", session_id=session_id, ref=command.ref))
        elif isinstance(command, LabelIn):
            await self.assignments.label(tenant.id, session_id, command.label_id, command.applied, self.agent)
            self.answer(Ok(action="label", session_id=session_id, ref=command.ref))
        elif isinstance(command, NoteIn):
            note = await self.notes.write(tenant, session_id, self.agent, command.text, command.mentions)
            self.answer(Ok(action="note", session_id=session_id, ref=command.ref, id=note.id))

    def _release(self, session_id: str) -> None:
        if session_id in self.claims:
            self.claims.discard(session_id)
            self.control.unhold(self.tenant.id, session_id, self.holder, id(self))

    async def _watch(self, session_id: str, last_seq: int) -> None:
        previous = self.watches.pop(session_id, None)
        if previous is not None:
            await previous.stop()
        if len(self.watches) >= MAX_WATCHES:
            raise FrameError("too_many_watches", f"at most {MAX_WATCHES} sessions can be watched at once")
        watch = _Watch(self, session_id)
        self.note_sessions.add(session_id)  # before the notes are read: none written meanwhile is missed
        try:
            await watch.start(last_seq)
        except BaseException:
            self.note_sessions.discard(session_id)
            raise
        self.watches[session_id] = watch


async def _nothing_to_backfill(after_seq: int, until_seq: int | None) -> list[StoredMessage]:
    return []  # the socket's own feed carries only seq-0 frames; watched sessions backfill themselves


async def _authenticate(websocket: WebSocket, services: Services) -> Refusal | tuple[Principal, Tenant, str]:
    """The agent, the tenant it acts on and its token's hash, or how to refuse."""
    presented = presented_token(websocket)
    if presented is None:
        return NOT_LOGGED_IN
    token, via = presented
    checked = await check_token(services.engine, token, via)
    if checked is None:
        return TOKEN_REFUSED
    if via == "cookie":
        # Browsers send cookies on cross-site WebSockets too: only the hub's own pages may use them.
        raw_origin = websocket.headers.get("origin")
        try:
            origin = normalise_origin(raw_origin) if raw_origin else None
        except HubError:
            origin = None
        own = own_origins(services.settings.public_url, websocket.url.scheme, websocket.headers.get("host"))
        if origin is None or origin not in own:
            return FOREIGN_COOKIE
    principal = checked.principal
    if not principal.can(CHAT_MANAGE):
        return NO_CHAT_MANAGE
    try:
        tenant = await services.accounts.acting_tenant(
            principal, websocket.query_params.get("business_id"), CHAT_MANAGE
        )
    except Forbidden:
        return NOT_PLATFORM_ADMIN
    except TenantNotFound:
        return NO_SUCH_BUSINESS
    return principal, tenant, checked.token_hash


async def agent_socket(websocket: WebSocket) -> None:
    services: Services = websocket.state.services
    settings = services.settings
    await websocket.accept()
    try:
        found = await _authenticate(websocket, services)
    except Exception:
        logger.exception("agent authentication failed")
        await refuse(websocket, NO_DATABASE)
        return
    if isinstance(found, Refusal):
        await refuse(websocket, found)
        return
    principal, tenant, token_hash = found
    logs.socket_context(settings.node_id, tenant.id)
    connection = AgentConnection(
        websocket,
        principal,
        tenant,
        settings,
        services.conversations,
        services.control,
        services.dashboard,
        services.joiner,
        services.metrics,
        services.feedback,
        services.assignments,
        services.notes,
        token_hash,
    )
    metrics = services.metrics
    sockets = services.sockets
    sockets.add(connection)
    services.signouts.add(connection)
    metrics.agent_sockets.inc()
    try:
        await connection.open()
        await receive(
            websocket, connection, max_bytes=settings.max_frame_bytes, metrics=metrics, frames=metrics.agent_frames
        )
    except WebSocketDisconnect:
        pass
    except Exception:
        logger.exception("agent socket failed for tenant %s", tenant.id)
        await refuse(websocket, INTERNAL)
    finally:
        sockets.discard(connection)
        services.signouts.discard(connection)
        metrics.agent_sockets.dec()
        await connection.close()
