"""``/ws/visitor/{tenant_uuid}``: the visitor's live conversation.

The handler's own task is the receiver (validates frames, acts); a second task drains this
socket's ``Feed``. Checks happen right after accept so a refusal carries a close code and reason.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from hub import logs
from hub.auth.throttle import Throttle
from hub.chat.availability import Availability, availability_frame
from hub.chat.conversations import Conversations
from hub.chat.feed import Feed
from hub.chat.feedback import Feedback
from hub.chat.followup import Followups
from hub.chat.identity import new_session_id, resume_token, resume_token_valid
from hub.chat.join import Joiner
from hub.chat.presence import Presence
from hub.chat.visits import Trail, Visits
from hub.chat.widgets import LiveWidgets
from hub.metrics import Metrics
from hub.node import Services
from hub.origins import normalise_origin, origin_allowed, own_origins, page_origin
from hub.protocol import (
    BAD_LAST_SEQ,
    BAD_RESUME_TOKEN,
    INTERNAL,
    NO_DATABASE,
    ORIGIN_NOT_ALLOWED,
    PONG,
    UNKNOWN_TENANT,
    VISITOR_TOO_SLOW,
    AvailabilityIn,
    EmailIn,
    EmailSaved,
    FrameError,
    HandoffIn,
    PageIn,
    PingIn,
    RateIn,
    RateSessionIn,
    Ready,
    ResumeIn,
    SayIn,
    TypingIn,
    encode,
    message_frame,
    parse_visitor_frame,
)
from hub.settings import Settings
from hub.store.contacts import visitor_contact
from hub.store.models import StoredMessage, Tenant
from hub.ws.limits import FrameBudget, count_visitor_message, socket_limits
from hub.ws.socket import drain, receive, refuse

logger = logging.getLogger(__name__)


class VisitorConnection:
    # Slots: an idle visitor socket is most of what a node holds in memory.
    __slots__ = (
        "_closing",
        "_swept",
        "availability",
        "budget",
        "chat",
        "feed",
        "feedback",
        "followups",
        "frames",
        "joiner",
        "metrics",
        "presence",
        "sender",
        "sent_message",
        "session_id",
        "settings",
        "stored",
        "tenant",
        "throttle",
        "trail",
        "visits",
        "websocket",
        "widgets",
    )

    def __init__(
        self,
        websocket: WebSocket,
        tenant: Tenant,
        settings: Settings,
        chat: Conversations,
        joiner: Joiner,
        presence: Presence,
        throttle: Throttle,
        widgets: LiveWidgets,
        metrics: Metrics,
        availability: Availability,
        followups: Followups,
        feedback: Feedback,
        visits: Visits,
    ) -> None:
        self.websocket = websocket
        self.metrics = metrics
        self.frames = metrics.visitor_frames
        self.availability = availability
        self.followups = followups
        self.feedback = feedback
        self.visits = visits
        self.trail: Trail | None = None  # made by the first ``page`` frame
        self.tenant = tenant
        self.settings = settings
        self.chat = chat
        self.joiner = joiner
        self.presence = presence
        self.throttle = throttle
        self.widgets = widgets
        self.budget = FrameBudget(socket_limits(settings))
        self.session_id = ""
        self.sent_message = False
        self.stored = False  # the session exists in the store (agents' dashboards know it)
        self.feed: Feed | None = None
        self.sender: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._swept = -1

    @property
    def out(self) -> Feed:
        assert self.feed is not None, "open_session comes first"
        return self.feed

    def start_sender(self) -> None:
        self.sender = asyncio.create_task(drain(self.out))
        self._swept = self.out.delivered  # a sweep that finds nothing newer parks it again

    def sweep(self) -> None:
        """Park the sender if nothing was delivered since the last sweep; the next frame restarts it."""
        if self.feed is None:
            return
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
            self.metrics.visitor_slow_closes.inc()
            # The close frame waits behind what the peer has not read yet; if it never reads, uvicorn's
            # keepalive timeout ends the connection.
            self._closing = asyncio.create_task(refuse(self.websocket, VISITOR_TOO_SLOW))

    async def _send(self, frame: str) -> None:
        self.frames.sent += 1
        await self.websocket.send_text(frame)

    async def _send_bytes(self, frame: bytes) -> None:
        self.frames.sent += 1
        await self.websocket.send_text(frame.decode())

    async def _backfill(self, after_seq: int, until_seq: int | None) -> list[StoredMessage]:
        return await self.joiner.transcript_after(self.tenant.id, self.session_id, after_seq, until_seq)

    def __repr__(self) -> str:
        return f"visitor socket of tenant {self.tenant.id}, session {self.session_id}"

    async def open_session(self, session_id: str, last_seq: int) -> None:
        """Join the session, then send ``ready`` and the backlog; live frames queue in the feed meanwhile."""
        if self.feed is not None:
            # Switching sessions: the old feed and whatever it queued stay with the old session.
            await self._leave()
        self.trail = None  # a page reported before a resume was on the fresh session: the widget tells it again
        tenant_id = self.tenant.id
        self.session_id = session_id
        logs.session_id.set(session_id)
        self.feed = Feed(
            self._send, self._backfill, max_frames=self.settings.send_queue_frames, on_overflow=self._too_slow
        )
        backlog = await self.joiner.join(self.feed, tenant_id, session_id, last_seq)
        self.stored = backlog.state is not None
        self.presence.joined(tenant_id, session_id, announce=self.stored)
        token = resume_token(self.settings.secret_key, tenant_id, session_id)
        widget = await self.widgets.state(tenant_id)
        ready = Ready(
            session_id=session_id,
            resume_token=token,
            seq=backlog.seq,
            assistant=widget.assistant if widget else None,
            appearance=widget.appearance if widget else None,
        )
        await self._send_bytes(encode(ready))
        await backlog.send(self.feed, self._send_bytes)

    async def handle(self, raw: str) -> None:
        frame = parse_visitor_frame(raw, max_chars=self.settings.max_message_chars)
        if isinstance(frame, SayIn):
            # The socket's own budget first: a flood is refused before it reaches the node's shared counts.
            self.budget.message()
            client = self.websocket.client
            await count_visitor_message(
                self.throttle, self.settings, self.session_id, client.host if client else "unknown"
            )
            self.sent_message = True
            result = await self.chat.visitor_message(self.tenant, self.session_id, frame.text, frame.client_id)
            if result.message.duplicate:
                # A retry of a message already stored: echo the stored copy to this socket only (seq 0 skips
                # the feed's dedupe, which would drop it), nothing new is fanned out.
                self.out.deliver(0, encode(message_frame(result.message)).decode())
        elif isinstance(frame, PingIn):
            self.out.deliver(0, PONG)
            return
        elif isinstance(frame, TypingIn):
            self.chat.typing(self.tenant.id, self.session_id, "visitor", frame.active)
        elif isinstance(frame, HandoffIn):
            self.sent_message = True  # the session exists from now (a resume must come first)
            if await self.chat.ask_for_person(self.tenant, self.session_id, frame.reason):
                self.stored = True
        elif isinstance(frame, AvailabilityIn):
            await self.tell_availability(frame)
            return
        elif isinstance(frame, EmailIn):
            self.sent_message = True  # the session exists from now (a resume must come first)
            address = await self.followups.leave_email(self.tenant, self.session_id, frame.address, frame.language)
            self.stored = True
            self.out.deliver(0, encode(EmailSaved(address=address)).decode())
        elif isinstance(frame, RateIn):
            # Answered by the session channel's `rated` (as are the other sockets of the conversation): this
            # socket is on that channel, and a node delivers to its own listeners at once, broker or not.
            await self.feedback.rate_reply(self.tenant.id, self.session_id, frame.message_id, frame.helpful)
        elif isinstance(frame, RateSessionIn):
            await self.feedback.rate_session(self.tenant.id, self.session_id, frame.stars, frame.comment)
        elif isinstance(frame, PageIn):
            self.saw_page(frame)
            return
        elif isinstance(frame, ResumeIn):
            if self.sent_message:
                raise FrameError("resume_too_late", "resume must come before any message on this connection")
            if not resume_token_valid(self.settings.secret_key, self.tenant.id, frame.session_id, frame.resume_token):
                raise FrameError("bad_resume_token", "resume token does not match this session")
            await self._stop_sender()
            await self.open_session(frame.session_id, frame.last_seq)
            self.start_sender()
            return
        self.saw_activity(urgent=isinstance(frame, EmailIn))

    # ---- visitor context: the page the visitor is on, and their activity (hub.chat.visits) ----------------

    def saw_page(self, frame: PageIn) -> None:
        origin = self.websocket.headers.get("origin")
        if origin is not None and normalise_origin(origin) != page_origin(frame.url):
            # A browser's widget reports the page it runs on, whose origin its socket's Origin is.
            raise FrameError("invalid_url", "'url' must be a page of the origin this socket was opened from")
        if self.trail is None:
            self.trail = self.visits.trail(self.tenant.id, self.session_id, self.stored)
        self.trail.page(frame, self.stored or self.sent_message)

    def saw_activity(self, *, urgent: bool) -> None:
        """Pings, resumes and availability questions are the widget's, not the visitor's."""
        if urgent and self.trail is None:  # an email left shows beside the conversation at once
            self.trail = self.visits.trail(self.tenant.id, self.session_id, self.stored)
        if self.trail is not None:
            self.trail.active(self.stored or self.sent_message, urgent=urgent)

    def tell(self, frame: str) -> None:
        """A frame for this socket from outside its session (the tenant changed its widget)."""
        if self.feed is not None:
            self.feed.deliver(0, frame)

    async def tell_availability(self, frame: AvailabilityIn) -> None:
        status = await self.availability.status(self.tenant)
        email = None
        if status.email_offered:  # the address left only matters when one is asked for
            contact = await visitor_contact(self.availability.engine, self.tenant.id, self.session_id)
            email = contact.email if contact is not None else None
        answer = availability_frame(status, self.tenant, frame.language, frame.time_zone, email)
        self.out.deliver(0, encode(answer).decode())

    async def close(self) -> None:
        tasks = [task for task in (self.sender, self._closing) if task is not None]
        if self.sender is not None:
            self.sender.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.sender = self._closing = None
        if self.feed is not None:
            await self._leave()

    async def _leave(self) -> None:
        if self.trail is not None:
            self.trail.left()
        feed = self.out
        await self.joiner.leave(feed, self.tenant.id, self.session_id)
        feed.close()
        self.presence.left(self.tenant.id, self.session_id, announce=self.stored or self.sent_message)


async def visitor_socket(websocket: WebSocket) -> None:
    services: Services = websocket.state.services
    settings = services.settings
    logs.socket_context(settings.node_id, websocket.path_params["tenant_uuid"])
    try:
        tenant = await services.tenants.get(websocket.path_params["tenant_uuid"])
    except Exception:
        logger.exception("tenant lookup failed")
        await websocket.accept()
        await refuse(websocket, NO_DATABASE)
        return
    await websocket.accept()
    if tenant is None or tenant.disabled:
        await refuse(websocket, UNKNOWN_TENANT)
        return
    own = own_origins(settings.public_url, websocket.url.scheme, websocket.headers.get("host"))
    if not origin_allowed(websocket.headers.get("origin"), tenant.origins, own):
        await refuse(websocket, ORIGIN_NOT_ALLOWED)
        return
    metrics = services.metrics
    connection = VisitorConnection(
        websocket,
        tenant,
        settings,
        services.conversations,
        services.joiner,
        services.presence,
        services.throttle,
        services.widgets,
        metrics,
        services.availability,
        services.followups,
        services.feedback,
        services.visits,
    )
    sockets = services.sockets
    sockets.add(connection)
    metrics.visitor_sockets.inc()
    try:
        # Before ready is built: a change of the widget made from now on reaches this socket.
        await services.widgets.join(tenant.id, connection)
        query = websocket.query_params
        if "session_id" in query:
            try:
                last_seq = int(query.get("last_seq", "0"))
            except ValueError:
                last_seq = -1
            if last_seq < 0:
                await refuse(websocket, BAD_LAST_SEQ)
                return
            session_id = query["session_id"]
            if not resume_token_valid(settings.secret_key, tenant.id, session_id, query.get("resume_token", "")):
                await refuse(websocket, BAD_RESUME_TOKEN)
                return
            await connection.open_session(session_id, last_seq)
        else:
            # Nothing is stored until the first message, so a client that resumes next leaves no empty session.
            await connection.open_session(new_session_id(), 0)
        connection.start_sender()
        await receive(
            websocket, connection, max_bytes=settings.max_frame_bytes, metrics=metrics, frames=metrics.visitor_frames
        )
    except WebSocketDisconnect:
        pass
    except Exception:
        # Never let an error reach the HTTP error handlers: they cannot answer on a WebSocket.
        logger.exception("visitor socket failed for tenant %s", tenant.id)
        await refuse(websocket, INTERNAL)
    finally:
        sockets.discard(connection)
        metrics.visitor_sockets.dec()
        try:
            await services.widgets.leave(tenant.id, connection)
        finally:
            await connection.close()


PARK_IDLE_SENDERS_EVERY_S = 15.0


async def park_idle_senders(sockets: set[object]) -> None:
    """Supervised: most visitor sockets sit idle for minutes; between frames they need no sender task."""
    while True:
        await asyncio.sleep(PARK_IDLE_SENDERS_EVERY_S)
        for connection in tuple(sockets):
            if isinstance(connection, VisitorConnection):
                connection.sweep()
