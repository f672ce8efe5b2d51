"""Visitor context: what a visitor's browser reported (pages, languages, time zone), counted into visits.

A visit is a run of activity with no gap longer than ``VISIT_GAP``: the first activity after such a gap
begins a new one (the same rule web analytics count sessions by). Events are what nodes saw, in batches
(``Sighting``): a page seen, or activity (a message, typing) on the page the visitor is on. Each batch is
folded into the row under its lock, so nodes writing one visitor's context at once count every visit once;
an event older than what is stored moves nothing back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.store.tables import chat_sessions, visitor_contexts

VISIT_GAP = timedelta(minutes=30)
VISIT_PAGES = 10  # the pages of the current visit that are kept (the newest)

MAX_EVENTS = 50  # of one visitor, waiting for one write: far more than a person makes in a second
SessionKey = tuple[str, str]  # (tenant_id, session_id)


@dataclass(frozen=True, slots=True)
class PageView:
    url: str
    title: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Active:
    """The visitor did something (wrote, typed, opened the widget) on the page they were on."""

    at: datetime


Event = PageView | Active


@dataclass(frozen=True, slots=True)
class Browser:
    """What the widget says about the browser; a field left None keeps what was stored."""

    language: str | None = None
    browser_language: str | None = None
    time_zone: str | None = None

    def over(self, older: Browser) -> Browser:
        return Browser(
            self.language or older.language,
            self.browser_language or older.browser_language,
            self.time_zone or older.time_zone,
        )


@dataclass(slots=True)
class Sighting:
    """What one node saw of one visitor since it last wrote: events in the order they happened."""

    events: list[Event] = field(default_factory=list)
    browser: Browser = field(default_factory=Browser)

    def add(self, other: Sighting) -> None:
        self.events.extend(other.events)
        if len(self.events) > MAX_EVENTS:
            del self.events[:-MAX_EVENTS]
        self.browser = other.browser.over(self.browser)


@dataclass(frozen=True)
class Context:
    """A visitor's context as stored, with the email address the visitor left on the session (if any)."""

    tenant_id: str
    session_id: str
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    visits: int = 0
    visit_started: datetime | None = None
    page: PageView | None = None
    pages: tuple[PageView, ...] = ()
    browser: Browser = Browser()
    email: str | None = None
    version: int = 0


def fold(context: Context, sighting: Sighting) -> Context:
    """``context`` after the sighting's events: pages, last activity, visits (a gap over VISIT_GAP begins one)."""
    first_seen, last_seen = context.first_seen, context.last_seen
    visits, started = context.visits, context.visit_started
    page, pages = context.page, list(context.pages)
    for event in sorted(sighting.events, key=lambda event: event.at):
        at = event.at
        if first_seen is None or at < first_seen:
            first_seen = at
        if started is not None and at < started:  # written late, by a slower node
            if started - at > VISIT_GAP:
                continue  # of an earlier visit: it tells first_seen, nothing of this visit
            started = at
        elif last_seen is None or at - last_seen > VISIT_GAP:
            visits, started = visits + 1, at
            # A visit begun by activity is on the page the visitor is on; one begun by a page starts with it.
            pages = [replace(page, at=at)] if page is not None and isinstance(event, Active) else []
        if last_seen is None or at > last_seen:
            last_seen = at
        if isinstance(event, PageView):
            if page is not None and page.url == event.url:  # the same page again (a reload): a newer title, maybe
                page = replace(page, title=event.title or page.title)
            elif page is None or at >= page.at:
                page = event
            if pages and pages[-1].url == event.url:
                pages[-1] = replace(pages[-1], title=event.title or pages[-1].title)
            else:
                pages.append(event)
                pages.sort(key=lambda seen: seen.at)
    return replace(
        context,
        first_seen=first_seen,
        last_seen=last_seen,
        visits=visits,
        visit_started=started,
        page=page,
        pages=tuple(pages[-VISIT_PAGES:]),
        browser=sighting.browser.over(context.browser),
        version=context.version + 1,
    )


async def record_sightings(engine: AsyncEngine, sightings: Mapping[SessionKey, Sighting]) -> list[Context]:
    """Fold each sighting into its visitor's row, in one transaction; the contexts as written.

    A session the tenant does not have (its first message was not stored) is skipped. Rows are locked in
    key order, so two nodes writing the same visitors never deadlock.
    """
    written = []
    async with engine.begin() as connection:
        for key in sorted(sightings):
            context = await _locked(connection, key)
            if context is None:
                continue
            changed = fold(context, sightings[key])
            await connection.execute(
                update(visitor_contexts).where(*_row(key)).values(**_values(changed, with_key=False))
            )
            written.append(changed)
    return written


async def _locked(connection: AsyncConnection, key: SessionKey) -> Context | None:
    """The row, locked for this transaction; made first (empty) for a stored session that has none."""
    query = (
        select(visitor_contexts, chat_sessions.c.visitor_email)
        .select_from(visitor_contexts.outerjoin(chat_sessions, _session_of_row()))
        .where(*_row(key))
        .with_for_update(of=visitor_contexts)
    )
    row = (await connection.execute(query)).first()
    if row is not None:
        return _context(row)
    tenant_id, session_id = key
    session = (
        await connection.execute(
            select(chat_sessions.c.created_at, chat_sessions.c.visitor_email).where(
                chat_sessions.c.tenant_id == tenant_id, chat_sessions.c.id == session_id
            )
        )
    ).first()
    if session is None:
        return None
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    empty = Context(tenant_id, session_id, first_seen=session.created_at)
    # Another node may make the same row now: the loser of the race locks and folds into the winner's.
    await connection.execute(dialect.insert(visitor_contexts).values(**_values(empty)).on_conflict_do_nothing())
    row = (await connection.execute(query)).first()
    return None if row is None else _context(row)


async def read_contexts(engine: AsyncEngine, tenant_id: str, session_ids: Sequence[str]) -> dict[str, Context]:
    """The contexts of the tenant's sessions named (an empty one for a session with nothing reported yet);
    a session the tenant does not have is left out."""
    if not session_ids:
        return {}
    query = (
        select(chat_sessions.c.id.label("named"), chat_sessions.c.visitor_email, visitor_contexts)
        .select_from(chat_sessions.outerjoin(visitor_contexts, _session_of_row()))
        .where(chat_sessions.c.tenant_id == tenant_id, chat_sessions.c.id.in_(list(session_ids)))
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return {
        row.named: _context(row)
        if row.session_id is not None
        else Context(tenant_id, row.named, email=row.visitor_email or None)
        for row in rows
    }


async def delete_stale_contexts(engine: AsyncEngine, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` contexts whose visitor was last seen before ``before``, oldest first; how many.

    Each row goes by its whole key (tenant and session), so no tenant's row goes for another's. On PostgreSQL a
    row the writer holds is skipped (``SKIP LOCKED``): its visitor is back, and the next sweep sees it anew.
    """
    seen = visitor_contexts.c.last_seen_at
    stale = or_(seen < before, and_(seen.is_(None), visitor_contexts.c.first_seen_at < before))
    oldest = (
        select(visitor_contexts.c.tenant_id, visitor_contexts.c.session_id)
        .where(stale)
        .order_by(seen)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    key = tuple_(visitor_contexts.c.tenant_id, visitor_contexts.c.session_id)
    async with engine.begin() as connection:
        deleted = await connection.execute(delete(visitor_contexts).where(key.in_(oldest)))
    return int(deleted.rowcount)


def _session_of_row() -> Any:
    return and_(
        chat_sessions.c.tenant_id == visitor_contexts.c.tenant_id, chat_sessions.c.id == visitor_contexts.c.session_id
    )


def _row(key: SessionKey) -> tuple[Any, Any]:
    return visitor_contexts.c.tenant_id == key[0], visitor_contexts.c.session_id == key[1]


def _page(stored: object) -> PageView | None:
    if not isinstance(stored, dict):
        return None
    at = datetime.fromisoformat(str(stored["at"]))
    return PageView(str(stored["url"]), stored.get("title"), at if at.tzinfo else at.replace(tzinfo=UTC))


def _page_json(page: PageView) -> dict[str, Any]:
    return {"url": page.url, "title": page.title, "at": page.at.isoformat()}


def _context(row: Any) -> Context:
    pages = [page for page in map(_page, row.pages or []) if page is not None]
    return Context(
        tenant_id=row.tenant_id,
        session_id=row.session_id,
        first_seen=row.first_seen_at,
        last_seen=row.last_seen_at,
        visits=row.visits,
        visit_started=row.visit_started_at,
        page=_page(row.page),
        pages=tuple(pages),
        browser=Browser(row.widget_language, row.browser_language, row.time_zone),
        email=row.visitor_email or None,
        version=row.version,
    )


def _values(context: Context, *, with_key: bool = True) -> dict[str, Any]:
    values: dict[str, Any] = {
        "first_seen_at": context.first_seen,
        "last_seen_at": context.last_seen,
        "visits": context.visits,
        "visit_started_at": context.visit_started,
        "page": None if context.page is None else _page_json(context.page),
        "pages": [_page_json(page) for page in context.pages],
        "widget_language": context.browser.language,
        "browser_language": context.browser.browser_language,
        "time_zone": context.browser.time_zone,
        "version": context.version,
    }
    if with_key:
        values.update(tenant_id=context.tenant_id, session_id=context.session_id)
    return values
