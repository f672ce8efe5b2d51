"""Reading the transcript: replay after a seq, and the recent context an AI reply needs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.database import reading
from hub.store.models import SessionState, StoredMessage
from hub.store.tables import chat_sessions, messages


def message_from_row(row: Any) -> StoredMessage:
    return StoredMessage(
        id=row.id,
        tenant_id=row.tenant_id,
        session_id=row.session_id,
        seq=row.seq,
        role=row.role,
        text=row.text,
        client_id=row.client_id,
        created_at=row.created_at,
        meta=row.meta,
    )


async def messages_after(
    engine: AsyncEngine, tenant_id: str, session_id: str, after_seq: int, *, until_seq: int | None = None
) -> list[StoredMessage]:
    query = (
        select(messages)
        .where(messages.c.tenant_id == tenant_id, messages.c.session_id == session_id, messages.c.seq > after_seq)
        .order_by(messages.c.seq)
    )
    if until_seq is not None:
        query = query.where(messages.c.seq <= until_seq)
    async with reading(engine) as connection:
        rows = (await connection.execute(query)).all()
    return [message_from_row(row) for row in rows]


async def recent_messages(engine: AsyncEngine, tenant_id: str, session_id: str, limit: int) -> list[StoredMessage]:
    query = (
        select(messages)
        .where(messages.c.tenant_id == tenant_id, messages.c.session_id == session_id)
        .order_by(messages.c.seq.desc())
        .limit(limit)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [message_from_row(row) for row in reversed(rows)]


async def get_session(engine: AsyncEngine, tenant_id: str, session_id: str) -> SessionState | None:
    query = select(chat_sessions).where(chat_sessions.c.tenant_id == tenant_id, chat_sessions.c.id == session_id)
    async with reading(engine) as connection:
        row = (await connection.execute(query)).first()
    if row is None:
        return None
    return SessionState(
        tenant_id=row.tenant_id,
        id=row.id,
        last_seq=row.last_seq,
        mode=row.mode,
        status=row.status,
        owner_id=row.owner_id,
        owner_name=row.owner_name,
    )


async def reply_context(
    engine: AsyncEngine, tenant_id: str, session_id: str, limit: int
) -> tuple[str | None, list[StoredMessage]]:
    """The session's mode and its recent turns in one statement: what an AI reply reads before it starts.

    A session without messages reads as mode ``None``: there is nothing to answer.
    """
    mode = (
        select(chat_sessions.c.mode)
        .where(chat_sessions.c.tenant_id == tenant_id, chat_sessions.c.id == session_id)
        .scalar_subquery()
        .label("session_mode")
    )
    query = (
        select(messages, mode)
        .where(messages.c.tenant_id == tenant_id, messages.c.session_id == session_id)
        .order_by(messages.c.seq.desc())
        .limit(limit)
    )
    async with reading(engine) as connection:
        rows = (await connection.execute(query)).all()
    if not rows:
        return None, []
    return rows[0].session_mode, [message_from_row(row) for row in reversed(rows)]
