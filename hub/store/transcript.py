"""Reading the transcript: replay after a seq, and the recent context an AI reply needs.

The statements are built once with bound parameters: SQLAlchemy then reuses each one's cache key and
compiled form, where building a ``select`` per call cost more CPU than running it (610 against
320-380 µs a reply context on PostgreSQL).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.database import reading
from hub.store.models import SessionState, StoredMessage, Waiting
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


# The one session a read is about: every statement here binds both keys, so no read crosses tenants.
_SESSION_ROW = (chat_sessions.c.tenant_id == bindparam("tenant_id"), chat_sessions.c.id == bindparam("session_id"))
_MESSAGE_IN_SESSION = (messages.c.tenant_id == bindparam("tenant_id"), messages.c.session_id == bindparam("session_id"))


@functools.cache
def _messages_after_query(bounded: bool) -> Select[Any]:
    """Built once: a statement object reused keeps its cache key, so each call skips building it again."""
    after = messages.c.seq > bindparam("after_seq")
    query = select(messages).where(*_MESSAGE_IN_SESSION, after).order_by(messages.c.seq)
    return query.where(messages.c.seq <= bindparam("until_seq")) if bounded else query


@functools.cache
def _newest_first_query(limit: int, with_mode: bool) -> Select[Any]:
    """The session's last ``limit`` messages, newest first; with its mode in every row when asked."""
    columns: list[Any] = [messages]
    if with_mode:
        columns.append(select(chat_sessions.c.mode).where(*_SESSION_ROW).scalar_subquery().label("session_mode"))
        waiting = select(chat_sessions.c.waiting_since).where(*_SESSION_ROW).scalar_subquery()
        columns.append(waiting.label("session_waiting_since"))
    return select(*columns).where(*_MESSAGE_IN_SESSION).order_by(messages.c.seq.desc()).limit(limit)


async def messages_after(
    engine: AsyncEngine, tenant_id: str, session_id: str, after_seq: int, *, until_seq: int | None = None
) -> list[StoredMessage]:
    params: dict[str, Any] = {"tenant_id": tenant_id, "session_id": session_id, "after_seq": after_seq}
    if until_seq is not None:
        params["until_seq"] = until_seq
    async with reading(engine) as connection:
        rows = (await connection.execute(_messages_after_query(until_seq is not None), params)).all()
    return [message_from_row(row) for row in rows]


async def recent_messages(engine: AsyncEngine, tenant_id: str, session_id: str, limit: int) -> list[StoredMessage]:
    params = {"tenant_id": tenant_id, "session_id": session_id}
    async with reading(engine) as connection:
        rows = (await connection.execute(_newest_first_query(limit, with_mode=False), params)).all()
    return [message_from_row(row) for row in reversed(rows)]


_GET_SESSION = select(chat_sessions).where(*_SESSION_ROW)


async def get_session(engine: AsyncEngine, tenant_id: str, session_id: str) -> SessionState | None:
    async with reading(engine) as connection:
        row = (await connection.execute(_GET_SESSION, {"tenant_id": tenant_id, "session_id": session_id})).first()
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
        waiting=waiting_of(row),
        assignee_id=row.assignee_id,
        transferred=row.transfer is not None,
    )


def waiting_of(row: Any) -> Waiting | None:
    """The session row's open handoff, if it waits for a person."""
    if row.waiting_since is None:
        return None
    return Waiting(row.waiting_since, row.waiting_reason, row.waiting_note)


@dataclass(frozen=True)
class ReplyContext:
    mode: str | None  # None: the session has no messages, nothing to answer
    waiting: bool  # the session waits for a person
    history: list[StoredMessage]


async def reply_context(engine: AsyncEngine, tenant_id: str, session_id: str, limit: int) -> ReplyContext:
    """The session's mode, whether it waits for a person, and its recent turns, in one statement: what an
    AI reply reads before it starts."""
    params = {"tenant_id": tenant_id, "session_id": session_id}
    async with reading(engine) as connection:
        rows = (await connection.execute(_newest_first_query(limit, with_mode=True), params)).all()
    if not rows:
        return ReplyContext(None, False, [])
    history = [message_from_row(row) for row in reversed(rows)]
    return ReplyContext(rows[0].session_mode, rows[0].session_waiting_since is not None, history)


_MESSAGE_BY_ID = select(messages.c.id).where(*_MESSAGE_IN_SESSION, messages.c.id == bindparam("message_id"))


async def message_stored(engine: AsyncEngine, tenant_id: str, session_id: str, message_id: str) -> bool:
    """Whether a message with this id is stored in the session (a retry after a lost ack asks this)."""
    params = {"tenant_id": tenant_id, "session_id": session_id, "message_id": message_id}
    async with reading(engine) as connection:
        return (await connection.execute(_MESSAGE_BY_ID, params)).first() is not None
