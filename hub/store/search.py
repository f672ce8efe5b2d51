"""Full-text search over a tenant's conversations (their visitor, AI and agent messages, and staff notes), in
the store's own index (migration 0018): FTS5 on SQLite, GIN expression indexes on PostgreSQL.

Both backends match every term (AND), each a folded stem matched as a word prefix (or a short one as a whole
word), inside the tenant; they group the matches by conversation, newest match first, and hand back each
conversation's newest match with how many items of it matched. Terms come from ``hub.chat.search``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.selectable import TextualSelect

from hub.knowledge.search import tenant_token  # the tenant's token in an FTS5 table's ``tenant`` column
from hub.store.database import reading
from hub.store.tables import UTCDateTime

# The document PostgreSQL searches: the same expression as the indexes' (migration 0018; a test compares them).
PG_DOCUMENT = "to_tsvector('simple'::regconfig, hub_fold({0}))"
MAX_MATCHES = 2000  # the newest matching items a search groups into conversations: bounded work per search
Term = tuple[str, bool]  # a stem of [a-z0-9] only, and whether it matches as a prefix


@dataclass(frozen=True)
class Hit:
    """A conversation that matched, through its newest matching item."""

    session_id: str
    status: str
    mode: str
    updated_at: datetime
    kind: str  # message | note
    item_id: str
    role: str  # visitor | ai | agent, or note
    author: str | None  # an agent message's or a note's author
    text: str
    seq: int | None  # a message's
    created_at: datetime
    matches: int  # items of this conversation that matched (of the newest MAX_MATCHES over all)


_RANKED = """
, ranked AS (
    SELECT hits.*, row_number() OVER (PARTITION BY session_id ORDER BY created_at DESC, item_id) AS nth,
           count(*) OVER (PARTITION BY session_id) AS matches
    FROM hits
)
SELECT r.session_id, r.item_id, r.kind, r.role, r.seq, r.text, r.meta, r.author_name, r.created_at, r.matches,
       s.status, s.mode, s.updated_at
FROM ranked AS r JOIN chat_sessions AS s ON s.tenant_id = :tenant AND s.id = r.session_id
WHERE r.nth = 1
ORDER BY r.created_at DESC, r.session_id
LIMIT :limit OFFSET :offset
"""

_SQLITE = (
    """
WITH hits AS (
    SELECT m.session_id AS session_id, m.id AS item_id, 'message' AS kind, m.role AS role, m.seq AS seq,
           m.text AS text, m.meta AS meta, NULL AS author_name, m.created_at AS created_at
    FROM conversation_fts JOIN messages AS m ON m.id = conversation_fts.doc_id
    WHERE conversation_fts MATCH :match AND conversation_fts.kind = 'message' AND m.tenant_id = :tenant
    UNION ALL
    SELECT n.session_id, n.id, 'note', 'note', NULL, n.text, NULL, n.author_name, n.created_at
    FROM conversation_fts JOIN notes AS n ON n.id = conversation_fts.doc_id
    WHERE conversation_fts MATCH :match AND conversation_fts.kind = 'note' AND n.tenant_id = :tenant
    ORDER BY created_at DESC
    LIMIT :most
)"""
    + _RANKED
)

_POSTGRES = (
    f"""
WITH hits AS (
    SELECT m.session_id AS session_id, m.id AS item_id, 'message' AS kind, m.role AS role, m.seq AS seq,
           m.text AS text, m.meta AS meta, NULL AS author_name, m.created_at AS created_at
    FROM messages AS m
    WHERE m.tenant_id = :tenant AND m.role IN ('visitor', 'ai', 'agent')
      AND {PG_DOCUMENT.format("m.text")} @@ to_tsquery('simple', :query)
    UNION ALL
    SELECT n.session_id, n.id, 'note', 'note', NULL, n.text, NULL, n.author_name, n.created_at
    FROM notes AS n
    WHERE n.tenant_id = :tenant AND {PG_DOCUMENT.format("n.text")} @@ to_tsquery('simple', :query)
    ORDER BY created_at DESC
    LIMIT :most
)"""
    + _RANKED
)


def _typed(sql: str) -> TextualSelect:
    return text(sql).columns(created_at=UTCDateTime(), updated_at=UTCDateTime(), meta=JSON())


_SQLITE_QUERY = _typed(_SQLITE)
_POSTGRES_QUERY = _typed(_POSTGRES)


def sqlite_match(tenant_id: str, terms: list[Term]) -> str:
    wanted = " AND ".join(f'"{stem}"' + ("*" if prefix else "") for stem, prefix in terms)
    return f"tenant : {tenant_token(tenant_id)} AND body : ({wanted})"


def postgres_query(terms: list[Term]) -> str:
    return " & ".join(stem + (":*" if prefix else "") for stem, prefix in terms)


async def search_conversations(
    engine: AsyncEngine, tenant_id: str, terms: list[Term], *, limit: int, offset: int
) -> list[Hit]:
    """The conversations holding every term, newest match first: ``limit`` of them after ``offset``."""
    if not terms or not all(stem.isascii() and stem.isalnum() for stem, _ in terms):
        return []
    values: dict[str, Any] = {"tenant": tenant_id, "most": MAX_MATCHES, "limit": limit, "offset": offset}
    if engine.dialect.name == "postgresql":
        statement, values["query"] = _POSTGRES_QUERY, postgres_query(terms)
    else:
        if not tenant_token(tenant_id)[1:].isalnum():
            return []
        statement, values["match"] = _SQLITE_QUERY, sqlite_match(tenant_id, terms)
    async with reading(engine) as connection:
        rows = (await connection.execute(statement, values)).all()
    return [_hit(row) for row in rows]


def _hit(row: Any) -> Hit:
    meta = row.meta if isinstance(row.meta, dict) else {}
    author = row.author_name if row.kind == "note" else meta.get("author")
    return Hit(
        session_id=row.session_id,
        status=row.status,
        mode=row.mode,
        updated_at=row.updated_at,
        kind=row.kind,
        item_id=row.item_id,
        role=row.role,
        author=author if isinstance(author, str) else None,
        text=row.text,
        seq=row.seq,
        created_at=row.created_at,
        matches=int(row.matches),
    )
