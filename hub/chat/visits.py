"""Visitor context beside the conversation: the page a visitor is on, the visit's pages, visits, languages.

The widget reports its page (``page`` frames, the HTTP paths' ``page`` field or Referer); a socket's
``Trail`` turns them, and the visitor's activity, into events for ``Visits``, which writes them off the
chat's path: whatever arrives within ``FLUSH_DELAY_S`` of the first event is one transaction
(``hub.store.visits``), and each context written goes to every agent of its tenant, on every node, as a
``visitor_context`` frame. Activity is told at most once per ``TELL_ACTIVITY_EVERY`` per socket, so a
chatting visitor costs no write per message; what one socket saw before its session was stored (nothing
is, before the first message) is held until it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.chat.publisher import Publisher
from hub.errors import HubError
from hub.metrics import Metrics
from hub.office_hours import Clock
from hub.protocol import PageIn, PageSeen, VisitorContext, VisitorContextFrame
from hub.store.visits import (
    VISIT_GAP,
    Active,
    Browser,
    Context,
    Event,
    PageView,
    SessionKey,
    Sighting,
    read_contexts,
    record_sightings,
)

logger = logging.getLogger(__name__)

FLUSH_DELAY_S = 0.5  # events arriving meanwhile ride along in the same write
RETRY_AFTER_S = 2.0  # after a failed write (the store away): the events wait in memory, then go again
MAX_WAITING = 20_000  # visitors whose events may wait for the store; beyond, new ones are dropped (logged)
# A socket tells its visitor's activity at most this often: last_seen may lag by this much, far below VISIT_GAP.
TELL_ACTIVITY_EVERY = timedelta(minutes=5)
assert TELL_ACTIVITY_EVERY < VISIT_GAP  # the newest untold activity then still measures every gap exactly


class InvalidUrl(HubError):
    """A page the HTTP chat paths were told of that is not an http(s) URL of the caller's origin."""

    code = "invalid_url"
    status = 400


class Visits:
    def __init__(
        self,
        engine: AsyncEngine,
        publisher: Publisher,
        clock: Clock,
        *,
        timeout_s: float,
        metrics: Metrics | None = None,
    ) -> None:
        self.engine = engine
        self.publisher = publisher
        self.clock = clock
        self.timeout_s = timeout_s
        self.metrics = metrics or Metrics.unexposed()
        self._waiting: dict[SessionKey, Sighting] = {}
        self.metrics.visitor_context_waiting.set_function(lambda: len(self._waiting))
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()  # one batch at a time: the node's close may flush while a batch is written
        self._dropped = 0

    def saw(self, tenant_id: str, session_id: str, sighting: Sighting) -> None:
        """Queue what was seen of a visitor; written within ``FLUSH_DELAY_S``. No I/O here."""
        key = (tenant_id, session_id)
        waiting = self._waiting.get(key)
        if waiting is not None:
            waiting.add(sighting)
        elif len(self._waiting) < MAX_WAITING:
            self._waiting[key] = Sighting(list(sighting.events), sighting.browser)
        else:
            self._dropped += 1
            self.metrics.visitor_context_dropped.inc()
            if self._dropped == 1:
                logger.warning("visitor context: %d visitors wait to be written; new ones are dropped", MAX_WAITING)
            return
        self._wake.set()

    def trail(self, tenant_id: str, session_id: str, stored: bool) -> Trail:
        return Trail(self, tenant_id, session_id, stored)

    async def run(self) -> None:
        """Supervised: write what was queued, a batch at a time."""
        while True:
            await self._wake.wait()
            await asyncio.sleep(FLUSH_DELAY_S)
            self._wake.clear()
            if not await self.flush():
                await asyncio.sleep(RETRY_AFTER_S)

    async def flush(self) -> bool:
        """Write the queued events and tell the agents; False when the write failed (the events wait again)."""
        async with self._writing:
            return await self._flush()

    async def _flush(self) -> bool:
        batch, self._waiting = self._waiting, {}
        self._dropped = 0
        if not batch:
            return True
        try:
            async with asyncio.timeout(self.timeout_s):  # not wait_for: see hub.supervise.woken
                written = await record_sightings(self.engine, batch)
        except Exception as exc:
            self.metrics.visitor_context_failed.inc()
            logger.warning("writing %d visitor contexts failed, retrying: %r", len(batch), exc)
            for key, sighting in batch.items():  # older events first, as they happened
                newer = self._waiting.get(key)
                if newer is not None:
                    sighting.add(newer)
                self._waiting[key] = sighting
            self._wake.set()
            return False
        self.metrics.visitor_context_written.inc()
        self.metrics.visitor_context_rows.inc(len(written))
        for context in written:
            self.publisher.visitor_context(context.tenant_id, context_frame(context))
        return True

    async def stop(self) -> None:
        """At the node's close: what is queued is written (bounded), then dropped."""
        with contextlib.suppress(Exception):
            await self.flush()
        self._waiting.clear()

    async def context(self, tenant_id: str, session_id: str) -> VisitorContext | None:
        """The visitor context of one of the tenant's sessions; None when the tenant has no such session."""
        async with asyncio.timeout(self.timeout_s):
            found = await read_contexts(self.engine, tenant_id, [session_id])
        context = found.get(session_id)
        return None if context is None else visitor_context(context)


class Trail:
    """One visitor socket's part in its visitor's context (made on the socket's first ``page`` frame)."""

    __slots__ = ("held", "session_id", "tenant_id", "told_at", "untold", "visits")

    def __init__(self, visits: Visits, tenant_id: str, session_id: str, stored: bool) -> None:
        self.visits = visits
        self.tenant_id = tenant_id
        self.session_id = session_id
        # Before the session is stored, events wait here: a session that never gets a message leaves no row.
        self.held: Sighting | None = None if stored else Sighting()
        self.told_at: datetime | None = None
        self.untold: datetime | None = None  # the newest activity not told yet

    def page(self, frame: PageIn, stored: bool) -> None:
        now = self.visits.clock()
        browser = Browser(frame.language, frame.browser_language, frame.time_zone)
        self._tell(Sighting([PageView(frame.url, frame.title, now)], browser), stored)

    def active(self, stored: bool, *, urgent: bool = False) -> None:
        """The visitor did something; told now when ``urgent`` (an email left), else at most every few minutes."""
        now = self.visits.clock()
        if urgent or self.told_at is None or now - self.told_at >= TELL_ACTIVITY_EVERY or self.held is not None:
            self._tell(Sighting([Active(now)]), stored)
        else:
            self.untold = now

    def left(self) -> None:
        """The socket closed: its untold activity is told (the visit's end is when the visitor was last active)."""
        if self.untold is not None and self.held is None:
            self._tell(Sighting(), stored=True)

    def _tell(self, sighting: Sighting, stored: bool) -> None:
        if self.untold is not None:
            events: list[Event] = [Active(self.untold)]
            sighting = Sighting(events + sighting.events, sighting.browser)
            self.untold = None
        if self.held is not None:
            self.held.add(sighting)
            if not stored:
                return
            sighting, self.held = self.held, None
        self.told_at = self.visits.clock()
        self.visits.saw(self.tenant_id, self.session_id, sighting)


def visitor_context(context: Context) -> VisitorContext:
    return VisitorContext(
        first_seen=_iso(context.first_seen),
        last_seen=_iso(context.last_seen),
        visits=context.visits,
        visit_started=_iso(context.visit_started),
        page=None if context.page is None else _page(context.page),
        pages=[_page(page) for page in context.pages],
        language=context.browser.language,
        browser_language=context.browser.browser_language,
        time_zone=context.browser.time_zone,
        email=context.email,
        version=context.version,
    )


def context_frame(context: Context) -> VisitorContextFrame:
    return VisitorContextFrame(session_id=context.session_id, context=visitor_context(context))


def _page(page: PageView) -> PageSeen:
    return PageSeen(url=page.url, title=page.title, at=page.at.isoformat())


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()
