"""Full-text search of a tenant's knowledge in the store's own engine, behind one small interface.

``SqliteSearch`` asks FTS5 (bm25, the title weighted over the body), ``PostgresSearch`` asks the
``search`` tsvector (``ts_rank``, weights A title, B body, C English stems). Both match every stem of
``Terms`` as a prefix, any of them (OR), inside the tenant, over enabled entries only, and put entries
in the asked language first. Ranks are "higher is better" on both.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.knowledge.text import Terms


class Backend(Protocol):
    async def search(
        self, connection: AsyncConnection, tenant_id: str, terms: Terms, language: str | None, limit: int
    ) -> list[tuple[str, float]]:
        """(entry id, rank) of the best matches, best first."""


def tenant_token(tenant_id: str) -> str:
    return "t" + tenant_id.replace("-", "").lower()


_SQLITE = text(
    """
    SELECT k.id AS id, -bm25(knowledge_fts, 0.0, 0.0, 4.0, 1.0) AS rank
    FROM knowledge_fts JOIN knowledge AS k ON k.id = knowledge_fts.entry_id
    WHERE knowledge_fts MATCH :match AND k.tenant_id = :tenant AND k.enabled
    ORDER BY CASE WHEN k.language = :language THEN 0 ELSE 1 END, bm25(knowledge_fts, 0.0, 0.0, 4.0, 1.0)
    LIMIT :limit
    """
)


class SqliteSearch:
    async def search(
        self, connection: AsyncConnection, tenant_id: str, terms: Terms, language: str | None, limit: int
    ) -> list[tuple[str, float]]:
        if not terms:
            return []
        token = tenant_token(tenant_id)
        if not token[1:].isalnum():
            return []
        wanted = " OR ".join(f'"{stem}"*' for stem in terms.stems)
        match = f"tenant : {token} AND {{title body}} : ({wanted})"
        rows = await connection.execute(
            _SQLITE, {"match": match, "tenant": tenant_id, "language": language or "", "limit": limit}
        )
        return [(row.id, float(row.rank)) for row in rows]


_POSTGRES = text(
    """
    WITH asked AS (SELECT to_tsquery('simple', :stems) || to_tsquery('english', :words) AS query)
    SELECT id, ts_rank(search, query) AS rank
    FROM knowledge, asked
    WHERE tenant_id = :tenant AND enabled AND search @@ query
    ORDER BY CASE WHEN language = :language THEN 0 ELSE 1 END, ts_rank(search, query) DESC, id
    LIMIT :limit
    """
)


class PostgresSearch:
    async def search(
        self, connection: AsyncConnection, tenant_id: str, terms: Terms, language: str | None, limit: int
    ) -> list[tuple[str, float]]:
        if not terms:
            return []
        # Terms hold [a-z0-9] only (hub.knowledge.text), so nothing in them is tsquery syntax.
        stems = " | ".join(f"{stem}:*" for stem in terms.stems)
        words = " | ".join(terms.words) or stems
        rows = await connection.execute(
            _POSTGRES,
            {"stems": stems, "words": words, "tenant": tenant_id, "language": language or "", "limit": limit},
        )
        return [(row.id, float(row.rank)) for row in rows]


def backend_for(dialect: str) -> Backend:
    return PostgresSearch() if dialect == "postgresql" else SqliteSearch()
