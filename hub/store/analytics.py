"""Analytics over the transcript: conversations per day, AI alone vs taken over, median time to first
token and to first agent reply. Computed on request from the messages of the window (at most 90 days)."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.feedback import feedback_metrics
from hub.store.tables import chat_sessions, handoffs, messages

MAX_DAYS = 90


def first_agent_reply_s(turns: list[Any]) -> float | None:
    """A conversation's time to first agent reply: from the visitor's last message before the first agent
    message to that message (None when no agent wrote, or the visitor had said nothing before)."""
    agent_at = next((i for i, turn in enumerate(turns) if turn.role == "agent"), None)
    if agent_at is None:
        return None
    asked = next((t for t in reversed(turns[:agent_at]) if t.role == "visitor"), None)
    if asked is None:
        return None
    return float((turns[agent_at].created_at - asked.created_at).total_seconds())


async def first_agent_reply_times(engine: AsyncEngine, tenant_id: str, days: int) -> list[float]:
    """Each conversation's time to first agent reply over the window, measured as ``conversation_metrics``
    measures its median (visitor and agent messages only: the rest cannot change it)."""
    since = datetime.now(UTC) - timedelta(days=days)
    query = (
        select(messages.c.session_id, messages.c.role, messages.c.created_at)
        .where(messages.c.tenant_id == tenant_id, messages.c.created_at >= since)
        .where(messages.c.role.in_(("visitor", "agent")))
        .order_by(messages.c.session_id, messages.c.seq)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    by_session: defaultdict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_session[row.session_id].append(row)
    return [waited for turns in by_session.values() if (waited := first_agent_reply_s(turns)) is not None]


async def conversation_metrics(engine: AsyncEngine, tenant_ids: list[str] | None, days: int) -> dict[str, Any]:
    """``tenant_ids`` None: every tenant (the platform overview)."""
    since = datetime.now(UTC) - timedelta(days=days)
    sessions_query = select(chat_sessions.c.tenant_id, chat_sessions.c.id, chat_sessions.c.created_at).where(
        chat_sessions.c.created_at >= since
    )
    messages_query = (
        select(messages.c.tenant_id, messages.c.session_id, messages.c.role, messages.c.created_at, messages.c.meta)
        .where(messages.c.created_at >= since)
        .order_by(messages.c.tenant_id, messages.c.session_id, messages.c.seq)
    )
    if tenant_ids is not None:
        sessions_query = sessions_query.where(chat_sessions.c.tenant_id.in_(tenant_ids))
        messages_query = messages_query.where(messages.c.tenant_id.in_(tenant_ids))
    async with engine.connect() as connection:
        sessions = (await connection.execute(sessions_query)).all()
        rows = (await connection.execute(messages_query)).all()

    per_day = Counter(row.created_at.date().isoformat() for row in sessions)
    today = datetime.now(UTC).date()
    series = [
        {"date": (today - timedelta(days=offset)).isoformat(), "conversations": 0} for offset in range(days - 1, -1, -1)
    ]
    for point in series:
        point["conversations"] = per_day.get(point["date"], 0)

    by_session: defaultdict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        by_session[(row.tenant_id, row.session_id)].append(row)
    in_window = {(row.tenant_id, row.id) for row in sessions}
    taken_over = 0
    first_tokens: list[int] = []
    first_agent_replies: list[float] = []
    for key, turns in by_session.items():
        for turn in turns:
            if turn.role == "ai" and turn.meta and isinstance(turn.meta.get("first_token_ms"), int):
                first_tokens.append(turn.meta["first_token_ms"])
        if key not in in_window:
            continue
        agent_at = next((i for i, turn in enumerate(turns) if turn.role == "agent"), None)
        took = agent_at is not None or any((t.meta or {}).get("event") == "takeover" for t in turns)
        taken_over += took
        waited = first_agent_reply_s(turns)
        if waited is not None:
            first_agent_replies.append(waited)
    total = len(sessions)
    return {
        "handoffs": await handoff_metrics(engine, tenant_ids, since),
        "feedback": await feedback_metrics(engine, tenant_ids, since),
        "days": days,
        "per_day": series,
        "conversations": total,
        "ai_only": total - taken_over,
        "taken_over": taken_over,
        "ai_only_share": round((total - taken_over) / total, 4) if total else None,
        "median_first_token_ms": int(statistics.median(first_tokens)) if first_tokens else None,
        "median_first_agent_reply_s": round(statistics.median(first_agent_replies), 1) if first_agent_replies else None,
    }


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` 0.9: p90): a value that was measured, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


async def handoff_metrics(engine: AsyncEngine, tenant_ids: list[str] | None, since: datetime) -> dict[str, Any]:
    """Requests for a person of the window: by reason, how they ended, the wait of those a person took
    (from the request to the takeover; median and p90, nearest rank), and those outside office hours."""
    query = select(
        handoffs.c.reason, handoffs.c.requested_at, handoffs.c.ended_at, handoffs.c.outcome, handoffs.c.outside_hours
    ).where(handoffs.c.requested_at >= since)
    if tenant_ids is not None:
        query = query.where(handoffs.c.tenant_id.in_(tenant_ids))
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    by_reason = Counter(row.reason for row in rows)
    waits = [
        (row.ended_at - row.requested_at).total_seconds()
        for row in rows
        if row.outcome == "taken" and row.ended_at is not None
    ]
    median = statistics.median(waits) if waits else None
    p90 = percentile(waits, 0.9)
    return {
        "requested": len(rows),
        "by_reason": {reason: by_reason.get(reason, 0) for reason in ("visitor", "ai", "credits", "agent_left")},
        "taken": sum(row.outcome == "taken" for row in rows),
        "missed": sum(row.outcome == "missed" for row in rows),
        "waiting": sum(row.ended_at is None for row in rows),
        "outside_hours": sum(bool(row.outside_hours) for row in rows),
        "median_wait_s": round(median, 1) if median is not None else None,
        "p90_wait_s": round(p90, 1) if p90 is not None else None,
    }
