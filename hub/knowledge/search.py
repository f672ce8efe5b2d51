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

from hub.knowledge.text import PREFIX_FROM, SYNONYM_SHARE, TITLE_BONUS, Terms, words


class Backend(Protocol):
    async def search(
        self, connection: AsyncConnection, tenant_id: str, terms: Terms, language: str | None, limit: int
    ) -> list[tuple[str, float]]:
        """(entry id, rank) of the best matches, best first."""


def tenant_token(tenant_id: str) -> str:
    return "t" + tenant_id.replace("-", "").lower()


_SQLITE = text(
    """
    SELECT k.id AS id, k.title AS title, k.body AS body, k.language AS language,
           -bm25(knowledge_fts, 0.0, 0.0, 4.0, 1.0) AS rank
    FROM knowledge_fts JOIN knowledge AS k ON k.id = knowledge_fts.entry_id
    WHERE knowledge_fts MATCH :match AND k.tenant_id = :tenant AND k.enabled
    ORDER BY bm25(knowledge_fts, 0.0, 0.0, 4.0, 1.0)
    LIMIT :candidates
    """
)
CANDIDATES = 20


class SqliteSearch:
    """FTS5 finds the candidates by bm25; they are then ranked as PostgreSQL ranks them: per word of the
    question, its weight when the entry holds any of its stems, with bm25 as the tie-break (bm25 counts
    a word's synonyms as more words, so a question with many synonyms of one word would lean on it)."""

    async def search(
        self, connection: AsyncConnection, tenant_id: str, terms: Terms, language: str | None, limit: int
    ) -> list[tuple[str, float]]:
        if not terms:
            return []
        token = tenant_token(tenant_id)
        if not token[1:].isalnum():
            return []
        wanted = " OR ".join(f'"{stem}"' + ("*" if len(stem) >= PREFIX_FROM else "") for stem in terms.stems)
        match = f"tenant : {token} AND {{title body}} : ({wanted})"
        rows = list(
            await connection.execute(
                _SQLITE, {"match": match, "tenant": tenant_id, "candidates": max(CANDIDATES, limit)}
            )
        )
        best = max((abs(row.rank) for row in rows), default=1.0) or 1.0
        scored = []
        for row in rows:
            title, body = set(words(row.title)), set(words(row.body))
            coverage = sum(concept.score(title, body) for concept in terms.concepts)
            scored.append((row.language != language, -(coverage + row.rank / best * 0.5), row.id))
        scored.sort()
        return [(entry_id, -negative) for _, negative, entry_id in scored[:limit]]


class PostgresSearch:
    """Candidates match any stem (the GIN index finds them); the rank adds, per word of the question, its
    weight when the entry holds any of its stems, plus ``ts_rank`` as the tie-break: PostgreSQL's own rank
    counts occurrences and knows no rarity, so alone it would let "bike" outweigh "e-bike"."""

    async def search(
        self, connection: AsyncConnection, tenant_id: str, terms: Terms, language: str | None, limit: int
    ) -> list[tuple[str, float]]:
        if not terms:
            return []
        # Terms hold [a-z0-9] only (hub.knowledge.text), so nothing in them is tsquery syntax.
        values: dict[str, object] = {
            "stems": " | ".join(_tsquery(stem) for stem in terms.stems),
            "words": " | ".join(terms.words),
            "tenant": tenant_id,
            "language": language or "",
            "limit": limit,
        }
        scores = ["ts_rank(search, query)"]
        for number, concept in enumerate(terms.concepts):
            # Concept.score in SQL: the word itself, else a synonym's share; a title (weight A) hit adds a bonus.
            own = " | ".join(_tsquery(stem) for stem in concept.stems)
            either = " | ".join(_tsquery(stem) for stem in concept.stems + concept.synonyms)
            values |= {f"o{number}": own, f"e{number}": either, f"w{number}": concept.weight}
            values[f"t{number}"] = " | ".join(_tsquery(stem, "A") for stem in concept.stems + concept.synonyms)
            scores.append(
                f":w{number} * (CASE WHEN search @@ to_tsquery('simple', :o{number}) THEN 1.0 "
                f"WHEN search @@ to_tsquery('simple', :e{number}) THEN {SYNONYM_SHARE} ELSE 0 END "
                f"+ CASE WHEN search @@ to_tsquery('simple', :t{number}) THEN {TITLE_BONUS} ELSE 0 END)"
            )
        statement = text(
            f"""
            WITH asked AS (SELECT to_tsquery('simple', :stems) || to_tsquery('english', :words) AS query)
            SELECT id, {" + ".join(scores)} AS rank
            FROM knowledge, asked
            WHERE tenant_id = :tenant AND enabled AND search @@ query
            ORDER BY CASE WHEN language = :language THEN 0 ELSE 1 END, rank DESC, id
            LIMIT :limit
            """
        )
        rows = await connection.execute(statement, values)
        return [(row.id, float(row.rank)) for row in rows]


def _tsquery(stem: str, weights: str = "") -> str:
    """A stem as a tsquery operand: a prefix (``:*``) from PREFIX_FROM letters on, else the whole word."""
    marks = ("*" if len(stem) >= PREFIX_FROM else "") + weights
    return f"{stem}:{marks}" if marks else stem


def backend_for(dialect: str) -> Backend:
    return PostgresSearch() if dialect == "postgresql" else SqliteSearch()
