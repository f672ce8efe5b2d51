"""Staff's private notes beside a conversation (migration 0018). Every query names the tenant.

Notes live in a table of their own, never in ``messages``: whatever reads a transcript (the visitor's
socket and HTTP paths, the AI's context, webhooks, emails) cannot come across one. A note is searchable from
the transaction that stores it (``hub.store.search_index``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store import search_index
from hub.store.database import reading
from hub.store.mentions import add_mentions
from hub.store.tables import notes

LISTED = 200  # the newest notes of a conversation that are listed with it


@dataclass(frozen=True)
class Note:
    id: str
    tenant_id: str
    session_id: str
    author_id: str
    author_name: str
    text: str
    mentions: list[dict[str, str]]  # [{"id", "name"}], in the order written
    after_seq: int
    created_at: datetime


def _of(row: Any) -> Note:
    mentions = [m for m in row.mentions or [] if isinstance(m, dict)]
    return Note(
        row.id,
        row.tenant_id,
        row.session_id,
        row.author_id,
        row.author_name,
        row.text,
        mentions,
        row.after_seq,
        row.created_at,
    )


async def create_note(
    engine: AsyncEngine,
    tenant_id: str,
    session_id: str,
    *,
    author_id: str,
    author_name: str,
    text: str,
    mentions: list[dict[str, str]],
    after_seq: int,
    alerted: Mapping[str, str] | None = None,
) -> Note:
    """``alerted``: mention id -> each person the note alerts, put in their Mentions inbox with the note."""
    note = Note(
        str(uuid.uuid4()), tenant_id, session_id, author_id, author_name, text, mentions, after_seq, datetime.now(UTC)
    )
    async with engine.begin() as connection:
        await connection.execute(
            notes.insert().values(
                id=note.id,
                tenant_id=tenant_id,
                session_id=session_id,
                author_id=author_id,
                author_name=author_name,
                text=text,
                mentions=mentions,
                after_seq=after_seq,
                created_at=note.created_at,
            )
        )
        await add_mentions(
            connection,
            tenant_id,
            note_id=note.id,
            session_id=session_id,
            author_id=author_id,
            people=alerted or {},
            created_at=note.created_at,
        )
        await search_index.add(
            connection, [search_index.Entry(note.id, tenant_id, session_id, "note", note.created_at, text)]
        )
    return note


async def session_notes(engine: AsyncEngine, tenant_id: str, session_id: str, limit: int = LISTED) -> list[Note]:
    """The conversation's newest ``limit`` notes, oldest first."""
    query = (
        select(notes)
        .where(notes.c.tenant_id == tenant_id, notes.c.session_id == session_id)
        .order_by(notes.c.created_at.desc(), notes.c.id)
        .limit(limit)
    )
    async with reading(engine) as connection:
        rows = (await connection.execute(query)).all()
    return [_of(row) for row in reversed(rows)]
