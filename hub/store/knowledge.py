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

from hub.store.tables import knowledge

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
