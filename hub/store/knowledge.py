"""Knowledge entries: what a tenant's AI answers from. Every function takes a connection and names the tenant.

The full-text index beside the table is kept by the database itself (migration 0014); searching it is
``hub.knowledge.search``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.tables import knowledge, messages, unanswered

TITLE_CHARS = 200
BODY_CHARS = 20_000
URL_CHARS = 2000
LANGUAGES = ("en", "pl")
MAX_ENTRIES = 2000  # per tenant: a front office's knowledge, not a document store


@dataclass(frozen=True)
class Entry:
    id: str
    tenant_id: str
    title: str
    body: str
    url: str | None
    language: str
    enabled: bool
    created_at: datetime
    updated_at: datetime


def _entry(row: Any) -> Entry:
    return Entry(
        row.id,
        row.tenant_id,
        row.title,
        row.body,
        row.url,
        row.language,
        row.enabled,
        row.created_at,
        row.updated_at,
    )


async def list_entries(connection: AsyncConnection, tenant_id: str) -> list[Entry]:
    query = select(knowledge).where(knowledge.c.tenant_id == tenant_id).order_by(knowledge.c.title, knowledge.c.id)
    return [_entry(row) for row in await connection.execute(query)]


async def get_entry(connection: AsyncConnection, tenant_id: str, entry_id: str) -> Entry | None:
    query = select(knowledge).where(knowledge.c.tenant_id == tenant_id, knowledge.c.id == entry_id)
    row = (await connection.execute(query)).first()
    return _entry(row) if row is not None else None


async def entries_by_id(connection: AsyncConnection, tenant_id: str, ids: list[str]) -> dict[str, Entry]:
    if not ids:
        return {}
    query = select(knowledge).where(knowledge.c.tenant_id == tenant_id, knowledge.c.id.in_(ids))
    return {row.id: _entry(row) for row in await connection.execute(query)}


async def count_entries(connection: AsyncConnection, tenant_id: str) -> int:
    query = select(func.count()).select_from(knowledge).where(knowledge.c.tenant_id == tenant_id)
    return int((await connection.execute(query)).scalar() or 0)


async def insert_entries(connection: AsyncConnection, tenant_id: str, rows: list[dict[str, Any]]) -> list[str]:
    """``rows``: title, body, url, language, enabled each; returns the new ids in order."""
    now = datetime.now(UTC)
    values = [
        {**row, "id": str(uuid.uuid4()), "tenant_id": tenant_id, "created_at": now, "updated_at": now} for row in rows
    ]
    if values:
        await connection.execute(knowledge.insert(), values)
    return [value["id"] for value in values]


async def update_entry(connection: AsyncConnection, tenant_id: str, entry_id: str, fields: dict[str, Any]) -> bool:
    statement = (
        update(knowledge)
        .where(knowledge.c.tenant_id == tenant_id, knowledge.c.id == entry_id)
        .values(**fields, updated_at=datetime.now(UTC))
    )
    return bool((await connection.execute(statement)).rowcount)


async def delete_entry(connection: AsyncConnection, tenant_id: str, entry_id: str) -> bool:
    statement = delete(knowledge).where(knowledge.c.tenant_id == tenant_id, knowledge.c.id == entry_id)
    return bool((await connection.execute(statement)).rowcount)


async def vocabulary(connection: AsyncConnection, tenant_id: str) -> list[tuple[str, str]]:
    """Title and body of each enabled entry: the words a search can correct a typo to."""
    query = select(knowledge.c.title, knowledge.c.body).where(
        knowledge.c.tenant_id == tenant_id, knowledge.c.enabled.is_(True)
    )
    return [(row.title, row.body) for row in await connection.execute(query)]


QUESTION_CHARS = 500


@dataclass(frozen=True)
class UnansweredGroup:
    """Similar questions (one ``grouping``): how often they were asked, the latest wording and session."""

    grouping: str
    count: int
    question: str
    session_id: str
    reason: str
    last_asked_at: datetime


async def record_unanswered(
    connection: AsyncConnection, tenant_id: str, session_id: str, question: str, grouping: str, reason: str
) -> None:
    await connection.execute(
        unanswered.insert().values(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            session_id=session_id,
            question=question.strip()[:QUESTION_CHARS],
            grouping=grouping[:200],
            reason=reason,
            asked_at=datetime.now(UTC),
        )
    )


async def unanswered_groups(
    connection: AsyncConnection, tenant_id: str, since: datetime, limit: int
) -> list[UnansweredGroup]:
    """The most asked groups since ``since``, most asked first, each with its latest question."""
    counted = (
        select(
            unanswered.c.grouping,
            func.count().label("asked"),
            func.max(unanswered.c.asked_at).label("last_asked_at"),
        )
        .where(unanswered.c.tenant_id == tenant_id, unanswered.c.asked_at >= since)
        .group_by(unanswered.c.grouping)
        .order_by(func.count().desc(), func.max(unanswered.c.asked_at).desc())
        .limit(limit)
    )
    groups = list(await connection.execute(counted))
    found = []
    for group in groups:
        latest = (
            await connection.execute(
                select(unanswered.c.question, unanswered.c.session_id, unanswered.c.reason)
                .where(unanswered.c.tenant_id == tenant_id, unanswered.c.grouping == group.grouping)
                .order_by(unanswered.c.asked_at.desc())
                .limit(1)
            )
        ).one()
        found.append(
            UnansweredGroup(
                group.grouping, int(group.asked), latest.question, latest.session_id, latest.reason, group.last_asked_at
            )
        )
    return found


async def agent_answer(connection: AsyncConnection, tenant_id: str, session_id: str) -> str | None:
    """What a person from the team first wrote in the session: the answer the AI did not have."""
    query = (
        select(messages.c.text)
        .where(messages.c.tenant_id == tenant_id, messages.c.session_id == session_id, messages.c.role == "agent")
        .order_by(messages.c.seq)
        .limit(1)
    )
    return (await connection.execute(query)).scalar()
