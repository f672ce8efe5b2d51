"""Each person a note mentions, read or not: their Mentions inbox (migration 0022). Every query names the tenant
and the person, so nobody lists or marks another person's mentions, in their tenant or another.

Rows are written with their note, in its transaction (``hub.store.notes.create_note``): a note and the mentions
it made exist together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.store.database import reading
from hub.store.tables import mentions, notes

EXCERPT_CHARS = 200  # of the note's text, as listed (the note itself is read with its conversation)


@dataclass(frozen=True)
class Mention:
    id: str
    session_id: str
    note_id: str
    author_id: str
    author_name: str
    text: str  # the note's first EXCERPT_CHARS + 1 characters: one more says that it goes on
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True)
class Marked:
    """What marking read did: the unread mentions the person has left, or the ids that are none of theirs."""

    unread: int
    unknown: list[str]
    marked: list[str]  # the mentions this call marked read (not those already read)


async def add_mentions(
    connection: AsyncConnection,
    tenant_id: str,
    *,
    note_id: str,
    session_id: str,
    author_id: str,
    people: Mapping[str, str],
    created_at: datetime,
) -> None:
    """``people``: mention id -> the person mentioned. Runs in the caller's transaction (the note's)."""
    if not people:
        return
    await connection.execute(
        mentions.insert(),
        [
            {
                "id": mention_id,
                "tenant_id": tenant_id,
                "note_id": note_id,
                "session_id": session_id,
                "user_id": user_id,
                "author_id": author_id,
                "created_at": created_at,
                "read_at": None,
            }
            for mention_id, user_id in people.items()
        ],
    )


def _of(row: Any) -> Mention:
    return Mention(
        row.id, row.session_id, row.note_id, row.author_id, row.author_name, row.text, row.created_at, row.read_at
    )


async def inbox(
    engine: AsyncEngine, tenant_id: str, user_id: str, *, limit: int, before: str | None = None
) -> list[Mention] | None:
    """The person's newest ``limit`` mentions, newest first; after the mention ``before`` (a page's last) when
    given. None when ``before`` is none of the person's mentions."""
    mine = and_(mentions.c.tenant_id == tenant_id, mentions.c.user_id == user_id)
    query = (
        select(
            mentions.c.id,
            mentions.c.session_id,
            mentions.c.note_id,
            mentions.c.author_id,
            notes.c.author_name,
            func.substr(notes.c.text, 1, EXCERPT_CHARS + 1).label("text"),
            mentions.c.created_at,
            mentions.c.read_at,
        )
        .join(notes, and_(notes.c.id == mentions.c.note_id, notes.c.tenant_id == mentions.c.tenant_id))
        .where(mine)
        .order_by(mentions.c.created_at.desc(), mentions.c.id.desc())
        .limit(limit)
    )
    async with reading(engine) as connection:
        if before is not None:
            cursor = select(mentions.c.created_at).where(mine, mentions.c.id == before)
            at = await connection.scalar(cursor)
            if at is None:
                return None
            query = query.where(
                or_(mentions.c.created_at < at, and_(mentions.c.created_at == at, mentions.c.id < before))
            )
        rows = (await connection.execute(query)).all()
    return [_of(row) for row in rows]


async def unread_count(engine: AsyncEngine, tenant_id: str, user_id: str) -> int:
    async with reading(engine) as connection:
        return await _unread(connection, tenant_id, user_id)


async def _unread(connection: AsyncConnection, tenant_id: str, user_id: str) -> int:
    query = (
        select(func.count())
        .select_from(mentions)
        .where(mentions.c.tenant_id == tenant_id, mentions.c.user_id == user_id, mentions.c.read_at.is_(None))
    )
    return int(await connection.scalar(query) or 0)


async def mark_read(
    engine: AsyncEngine, tenant_id: str, user_id: str, ids: Sequence[str] | None, at: datetime
) -> Marked:
    """Mark the person's mentions ``ids`` read, or (``ids`` None) every one of theirs up to ``at``. When an id is
    none of theirs, nothing is marked. Already read ones keep the time they were first read."""
    mine = and_(mentions.c.tenant_id == tenant_id, mentions.c.user_id == user_id)
    async with engine.begin() as connection:
        if ids is None:
            chosen = mentions.c.created_at <= at
        else:
            wanted = list(dict.fromkeys(ids))
            found = set(
                (await connection.execute(select(mentions.c.id).where(mine, mentions.c.id.in_(wanted)))).scalars()
            )
            unknown = [mention_id for mention_id in wanted if mention_id not in found]
            if unknown:
                return Marked(await _unread(connection, tenant_id, user_id), unknown, [])
            chosen = mentions.c.id.in_(wanted)
        marked = await connection.execute(
            update(mentions)
            .where(mine, chosen, mentions.c.read_at.is_(None))
            .values(read_at=at)
            .returning(mentions.c.id)
        )
        return Marked(await _unread(connection, tenant_id, user_id), [], sorted(marked.scalars()))
