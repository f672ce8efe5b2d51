"""Ratings: the visitor's of each AI reply and of each conversation, and what Analytics makes of them.

A rating is written with its webhook deliveries in one transaction (an upsert: rating again replaces
it). The reply's persona and source titles are copied into the rating from the message's meta, so the
analytics read the ratings alone.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.store.database import reading
from hub.store.tables import chat_sessions, message_ratings, messages, session_ratings, webhook_deliveries
from hub.store.webhooks import OutboxRow

UNHELPFUL_SOURCES = 10  # the knowledge entries Analytics lists, most often behind an unhelpful answer first


@dataclass(frozen=True)
class RatedReply:
    """An AI reply of a session, as a rating needs it."""

    message_id: str
    session_id: str
    persona: str | None
    sources: list[str]


async def rated_reply(engine: AsyncEngine, tenant_id: str, session_id: str, message_id: str) -> RatedReply | None:
    """The AI reply ``message_id`` of this tenant's session, or None (unknown, another session's, not the AI's)."""
    query = select(messages.c.meta).where(
        messages.c.tenant_id == tenant_id,
        messages.c.session_id == session_id,
        messages.c.id == message_id,
        messages.c.role == "ai",
    )
    async with reading(engine) as connection:
        row = (await connection.execute(query)).first()
    if row is None:
        return None
    meta = row.meta or {}
    titles = [str(s.get("title", "")) for s in meta.get("sources") or [] if isinstance(s, dict) and s.get("title")]
    persona = meta.get("persona")
    return RatedReply(message_id, session_id, str(persona) if persona else None, titles)


async def session_exists(engine: AsyncEngine, tenant_id: str, session_id: str) -> bool:
    query = select(chat_sessions.c.id).where(chat_sessions.c.tenant_id == tenant_id, chat_sessions.c.id == session_id)
    async with reading(engine) as connection:
        return (await connection.execute(query)).first() is not None


@dataclass(frozen=True)
class SessionFeedback:
    """What the visitor said of one conversation so far: each rated AI reply, and the conversation's stars."""

    replies: list[tuple[str, bool]]  # (message id, helpful), oldest message first
    stars: int | None
    comment: str | None


async def session_feedback(engine: AsyncEngine, tenant_id: str, session_id: str) -> SessionFeedback:
    """Read through the session's messages (their unique (tenant, session, seq) index) to each one's rating
    (the ratings' primary key), so no rating of another session is scanned."""
    replies = (
        select(message_ratings.c.message_id, message_ratings.c.helpful)
        .select_from(
            messages.join(
                message_ratings,
                (message_ratings.c.tenant_id == messages.c.tenant_id) & (message_ratings.c.message_id == messages.c.id),
            )
        )
        .where(messages.c.tenant_id == tenant_id, messages.c.session_id == session_id, messages.c.role == "ai")
        .order_by(messages.c.seq)
    )
    conversation = select(session_ratings.c.stars, session_ratings.c.comment).where(
        session_ratings.c.tenant_id == tenant_id, session_ratings.c.session_id == session_id
    )
    async with reading(engine) as connection:
        rated = [(str(row.message_id), bool(row.helpful)) for row in await connection.execute(replies)]
        row = (await connection.execute(conversation)).first()
    return SessionFeedback(rated, None if row is None else int(row.stars), None if row is None else row.comment)


def _upsert(connection: AsyncConnection, table: Any, values: dict[str, Any], keys: list[str]) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    changed = {name: statement.excluded[name] for name in values if name not in keys}
    return statement.on_conflict_do_update(index_elements=keys, set_=changed)


async def save_reply_rating(
    engine: AsyncEngine, tenant_id: str, reply: RatedReply, helpful: bool, rows: list[OutboxRow]
) -> None:
    values = {
        "tenant_id": tenant_id,
        "message_id": reply.message_id,
        "session_id": reply.session_id,
        "helpful": helpful,
        "persona": reply.persona,
        "sources": reply.sources,
        "rated_at": datetime.now(UTC),
    }
    async with engine.begin() as connection:
        await connection.execute(_upsert(connection, message_ratings, values, ["tenant_id", "message_id"]))
        if rows:
            await connection.execute(webhook_deliveries.insert(), rows)


async def save_session_rating(
    engine: AsyncEngine, tenant_id: str, session_id: str, stars: int, comment: str | None, rows: list[OutboxRow]
) -> None:
    values = {
        "tenant_id": tenant_id,
        "session_id": session_id,
        "stars": stars,
        "comment": comment,
        "rated_at": datetime.now(UTC),
    }
    async with engine.begin() as connection:
        await connection.execute(_upsert(connection, session_ratings, values, ["tenant_id", "session_id"]))
        if rows:
            await connection.execute(webhook_deliveries.insert(), rows)


async def feedback_metrics(engine: AsyncEngine, tenant_ids: list[str] | None, since: datetime) -> dict[str, Any]:
    """Ratings of the window: helpful share per persona, the knowledge entries most often behind an
    unhelpful answer, and the conversations' average rating. ``tenant_ids`` None: every tenant."""
    replies = select(message_ratings.c.persona, message_ratings.c.helpful, message_ratings.c.sources).where(
        message_ratings.c.rated_at >= since
    )
    sessions = select(session_ratings.c.stars).where(session_ratings.c.rated_at >= since)
    if tenant_ids is not None:
        replies = replies.where(message_ratings.c.tenant_id.in_(tenant_ids))
        sessions = sessions.where(session_ratings.c.tenant_id.in_(tenant_ids))
    async with reading(engine) as connection:
        rated = (await connection.execute(replies)).all()
        stars = [int(row.stars) for row in await connection.execute(sessions)]
    per_persona: defaultdict[str, list[bool]] = defaultdict(list)
    unhelpful: Counter[str] = Counter()
    for row in rated:
        per_persona[row.persona or ""].append(bool(row.helpful))
        if not row.helpful:
            unhelpful.update(set(row.sources or []))
    personas = [
        {
            "persona": name or None,
            "rated": len(votes),
            "helpful": sum(votes),
            "helpful_share": round(sum(votes) / len(votes), 4),
        }
        for name, votes in sorted(per_persona.items(), key=lambda item: (-len(item[1]), item[0]))
    ]
    top = sorted(unhelpful.items(), key=lambda item: (-item[1], item[0]))[:UNHELPFUL_SOURCES]
    return {
        "rated_replies": len(rated),
        "helpful_share": round(sum(bool(r.helpful) for r in rated) / len(rated), 4) if rated else None,
        "personas": personas,
        "unhelpful_sources": [{"title": title, "unhelpful": count} for title, count in top],
        "session_ratings": len(stars),
        "average_session_rating": round(sum(stars) / len(stars), 2) if stars else None,
    }


def window_start(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)
