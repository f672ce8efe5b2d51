"""Full-text search over a tenant's conversations (their visitor, AI and agent messages, and staff notes), in the
store's own index (``hub.store.search_index``): FTS5 on SQLite, GIN-indexed tsvectors on PostgreSQL.

A conversation matches when its items together hold every term: one word may be in the visitor's message and
another in a note. Each term is looked up in the index on its own (its stem as a word prefix, or a short one as
a whole word, or its Polish key whole), inside the tenant; the database then keeps the conversations that hold
them all. They come ranked: first those whose one item holds the most terms (a message saying all of it is the
closer match), then the newest match. Each comes with that best item and, for the terms it lacks, the newest
items holding them. Terms come from ``hub.chat.search``; both backends run the same steps after the lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.selectable import TextualSelect

from hub.knowledge.search import tenant_token  # the tenant's token in an FTS5 table's ``tenant`` column
from hub.store.database import reading
from hub.store.tables import UTCDateTime


@dataclass(frozen=True)
class Term:
    """A word of the query, as the index is searched for it."""

    stem: str  # [a-z0-9] only: matched as a word prefix when ``prefix``, else as a whole word
    prefix: bool
    key: str  # [a-z0-9] only: its Polish key (``hub.knowledge.polish.key``), matched whole

    def safe(self) -> bool:
        """Nothing in it is query syntax of either backend."""
        return all(part.isascii() and part.isalnum() for part in (self.stem, self.key))


@dataclass(frozen=True)
class Item:
    """A message or a note that holds some of the terms."""

    kind: str  # message | note
    item_id: str
    role: str  # visitor | ai | agent, or note
    author: str | None  # an agent message's or a note's author
    text: str
    seq: int | None  # a message's
    created_at: datetime
    terms: int  # which terms it holds: bit i for the query's term i


@dataclass(frozen=True)
class Hit:
    """A conversation holding every term: through its best item, and the others needed to show them all."""

    session_id: str
    status: str
    mode: str
    updated_at: datetime
    best: Item
    matches: int  # items of this conversation holding any of the terms
    others: list[Item] = field(default_factory=list)  # newest first: together with ``best``, every term


# Each term's lookup is one query of the index (``{lookups}``: UNION ALL of them, each row with its term's number);
# the rest is the same on both backends.
_STEPS = """
WITH matched AS ({lookups}),
whole AS (
    SELECT session_id FROM (SELECT DISTINCT session_id, term FROM matched) AS held
    GROUP BY session_id HAVING count(*) = :terms
),
items AS (
    SELECT m.item_id, min(m.session_id) AS session_id, min(m.kind) AS kind, min(m.created_at) AS created_at,
           count(*) AS held, sum(1 << m.term) AS mask
    FROM matched AS m JOIN whole AS w ON w.session_id = m.session_id
    GROUP BY m.item_id
),
ranked AS (
    SELECT items.*, row_number() OVER (PARTITION BY session_id ORDER BY held DESC, created_at DESC, item_id) AS nth,
           count(*) OVER (PARTITION BY session_id) AS matches, max(created_at) OVER (PARTITION BY session_id) AS newest
    FROM items
),
page AS (
    SELECT session_id, item_id, mask, matches, row_number() OVER (ORDER BY held DESC, newest DESC, session_id) AS place
    FROM ranked WHERE nth = 1
    ORDER BY held DESC, newest DESC, session_id
    LIMIT :limit OFFSET :offset
),
lacking AS (
    SELECT i.session_id, i.item_id, i.kind, i.mask,
           row_number() OVER (PARTITION BY m.session_id, m.term ORDER BY i.created_at DESC, i.item_id) AS nth
    FROM page AS p JOIN matched AS m ON m.session_id = p.session_id AND (p.mask & (1 << m.term)) = 0
    JOIN items AS i ON i.item_id = m.item_id
),
shown AS (
    SELECT p.session_id, p.item_id, i.kind, p.mask, p.matches, p.place, 1 AS best
    FROM page AS p JOIN items AS i ON i.item_id = p.item_id
    UNION
    SELECT session_id, item_id, kind, mask, 0, 0, 0 FROM lacking WHERE nth = 1
)
SELECT sh.session_id, sh.item_id, sh.kind, sh.mask, sh.matches, sh.place, sh.best,
       coalesce(msg.role, 'note') AS role, msg.seq, coalesce(msg.text, note.text) AS text, msg.meta,
       note.author_name, coalesce(msg.created_at, note.created_at) AS created_at, s.status, s.mode, s.updated_at
FROM shown AS sh
JOIN chat_sessions AS s ON s.tenant_id = :tenant AND s.id = sh.session_id
LEFT JOIN messages AS msg ON sh.kind = 'message' AND msg.tenant_id = :tenant AND msg.id = sh.item_id
LEFT JOIN notes AS note ON sh.kind = 'note' AND note.tenant_id = :tenant AND note.id = sh.item_id
WHERE msg.id IS NOT NULL OR note.id IS NOT NULL
"""

_SQLITE_LOOKUP = (
    "SELECT {n} AS term, item_id, session_id, kind, created_at FROM conversation_fts "
    "WHERE conversation_fts MATCH :match{n}"
)
_POSTGRES_LOOKUP = (
    "SELECT {n} AS term, item_id, session_id, kind, created_at FROM conversation_search WHERE tenant_id = :tenant "
    "AND (words @@ CAST(:words{n} AS tsquery) OR keys @@ CAST(:keys{n} AS tsquery))"
)


@lru_cache(maxsize=32)
def _statement(dialect: str, terms: int) -> TextualSelect:
    lookup = _POSTGRES_LOOKUP if dialect == "postgresql" else _SQLITE_LOOKUP
    lookups = " UNION ALL ".join(lookup.format(n=n) for n in range(terms))
    return text(_STEPS.format(lookups=lookups)).columns(created_at=UTCDateTime(), updated_at=UTCDateTime(), meta=JSON())


def sqlite_match(tenant_id: str, term: Term) -> str:
    words = f'"{term.stem}"' + ("*" if term.prefix else "")
    return f'tenant : {tenant_token(tenant_id)} AND (words : {words} OR keys : "{term.key}")'


def postgres_words(term: Term) -> str:
    return term.stem + (":*" if term.prefix else "")


async def search_conversations(
    engine: AsyncEngine, tenant_id: str, terms: list[Term], *, limit: int, offset: int
) -> list[Hit]:
    """The conversations holding every term, best first: ``limit`` of them after ``offset``."""
    if not terms or len(terms) > 30 or not all(term.safe() for term in terms):
        return []
    values: dict[str, Any] = {"tenant": tenant_id, "terms": len(terms), "limit": limit, "offset": offset}
    if engine.dialect.name == "postgresql":
        for n, term in enumerate(terms):
            values[f"words{n}"], values[f"keys{n}"] = postgres_words(term), term.key
    else:
        if not tenant_token(tenant_id)[1:].isalnum():
            return []
        for n, term in enumerate(terms):
            values[f"match{n}"] = sqlite_match(tenant_id, term)
    async with reading(engine) as connection:
        rows = (await connection.execute(_statement(engine.dialect.name, len(terms)), values)).all()
    return _hits(rows, len(terms))


def _hits(rows: Sequence[Any], terms: int) -> list[Hit]:
    """The conversations of the page in their order, each with its best item and the fewest others (newest
    first) that hold the terms it lacks."""
    best = sorted((row for row in rows if row.best), key=lambda row: row.place)
    candidates: dict[str, list[Item]] = {}
    for row in rows:
        if not row.best:
            candidates.setdefault(row.session_id, []).append(_item(row))
    hits = []
    everything = (1 << terms) - 1
    for row in best:
        first = _item(row)
        held, others = first.terms, []
        for other in sorted(candidates.get(row.session_id, []), key=lambda item: item.created_at, reverse=True):
            if held == everything:
                break
            if other.terms & ~held and other.item_id != first.item_id:
                others.append(other)
                held |= other.terms
        hits.append(Hit(row.session_id, row.status, row.mode, row.updated_at, first, int(row.matches), others))
    return hits


def _item(row: Any) -> Item:
    meta = row.meta if isinstance(row.meta, dict) else {}
    author = row.author_name if row.kind == "note" else meta.get("author")
    return Item(
        kind=row.kind,
        item_id=row.item_id,
        role=row.role,
        author=author if isinstance(author, str) else None,
        text=row.text,
        seq=row.seq,
        created_at=row.created_at,
        terms=int(row.mask),
    )
