"""A visitor's email address on their session, and which agent replies were already emailed to it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.tables import chat_sessions, messages


@dataclass(frozen=True)
class Contact:
    email: str
    language: str
    emailed_seq: int


async def set_visitor_email(engine: AsyncEngine, tenant_id: str, session_id: str, email: str, language: str) -> bool:
    """False when the tenant has no such session. Replies before now are not emailed: the visitor saw them."""
    async with engine.begin() as connection:
        result = await connection.execute(
            update(chat_sessions)
            .where(chat_sessions.c.tenant_id == tenant_id, chat_sessions.c.id == session_id)
            .values(
                visitor_email=email,
                visitor_language=language,
                emailed_seq=func.coalesce(chat_sessions.c.emailed_seq, chat_sessions.c.last_seq),
            )
        )
    return bool(result.rowcount)


async def visitor_contact(engine: AsyncEngine, tenant_id: str, session_id: str) -> Contact | None:
    query = select(chat_sessions.c.visitor_email, chat_sessions.c.visitor_language, chat_sessions.c.emailed_seq).where(
        chat_sessions.c.tenant_id == tenant_id, chat_sessions.c.id == session_id
    )
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    if row is None or not row.visitor_email:
        return None
    return Contact(row.visitor_email, row.visitor_language or "en", row.emailed_seq or 0)


async def unsent_agent_replies(engine: AsyncEngine, tenant_id: str, session_id: str, after_seq: int) -> list[str]:
    query = (
        select(messages.c.text)
        .where(messages.c.tenant_id == tenant_id, messages.c.session_id == session_id)
        .where(messages.c.seq > after_seq, messages.c.role == "agent")
        .order_by(messages.c.seq)
    )
    async with engine.connect() as connection:
        return list((await connection.execute(query)).scalars())


async def newest_agent_seq(engine: AsyncEngine, tenant_id: str, session_id: str) -> int:
    query = select(func.max(messages.c.seq)).where(
        messages.c.tenant_id == tenant_id, messages.c.session_id == session_id, messages.c.role == "agent"
    )
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar() or 0)


async def move_emailed(engine: AsyncEngine, tenant_id: str, session_id: str, before: int, after: int) -> bool:
    """Compare and set: only one sender moves ``emailed_seq`` from ``before`` (the email is theirs to send)."""
    async with engine.begin() as connection:
        result = await connection.execute(
            update(chat_sessions)
            .where(chat_sessions.c.tenant_id == tenant_id, chat_sessions.c.id == session_id)
            .where(
                or_(chat_sessions.c.emailed_seq == before, chat_sessions.c.emailed_seq.is_(None))
                if before == 0
                else chat_sessions.c.emailed_seq == before
            )
            .values(emailed_seq=after)
        )
    return bool(result.rowcount)
