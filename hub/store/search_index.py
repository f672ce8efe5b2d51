"""What the conversation search index holds for a message or a note, written in the transaction that stores it.

Each visitor, AI and agent message and each note is one entry: its conversation, its time, and a document of two
parts, both made here in Python so the two stores hold the same: ``words``, the folded words of the text
(``hub.knowledge.text.words``), which a search matches by prefix, and ``keys``, their Polish keys
(``hub.knowledge.polish.key``, and for a word written with ą the key of its ę form too), which a search
matches whole. SQLite keeps them in ``conversation_fts`` (FTS5,
with the tenant's token in its ``tenant`` column), PostgreSQL in ``conversation_search`` (a ``tsvector`` each,
GIN-indexed; the words are lexemes already, so they are cast, not parsed again: a quarter cheaper per message,
measured, and PostgreSQL's parser cannot read any of them otherwise). Migration 0023 made both and indexed what
was written before. Deleting a message or a note deletes its entry (a trigger on each table).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.knowledge.polish import MIN_STEM, key, nasal_keys
from hub.knowledge.search import tenant_token
from hub.knowledge.text import STOPWORDS, words

SEARCHED_ROLES = ("visitor", "ai", "agent")  # system messages ("Anna joined the chat") are not searched


@dataclass(frozen=True)
class Document:
    words: str  # the folded words, in order, space-separated
    # Their distinct keys, space-separated; none for a number, a word of two letters or one every sentence has,
    # which are their own keys: a search finds those by their words.
    keys: str


MAX_WORD = 100  # longer "words" (a pasted hash, a URL's tail) are not indexed: PostgreSQL refuses 2 KB lexemes


def document(content: str) -> Document:
    found = [word for word in words(content) if len(word) <= MAX_WORD]
    keyed = (word for word in found if word.isalpha() and len(word) > MIN_STEM and word not in STOPWORDS)
    keys = [key(word) for word in keyed] + [made for made in nasal_keys(content) if len(made) <= MAX_WORD]
    return Document(" ".join(found), " ".join(dict.fromkeys(keys)))


@dataclass(frozen=True)
class Entry:
    item_id: str  # the message's or the note's id
    tenant_id: str
    session_id: str
    kind: str  # message | note
    created_at: datetime
    text: str

    def values(self) -> dict[str, Any]:
        made = document(self.text)
        return {
            "item_id": self.item_id,
            "tenant_id": self.tenant_id,
            "tenant": tenant_token(self.tenant_id),
            "session_id": self.session_id,
            "kind": self.kind,
            "created_at": self.created_at,
            "sortable_at": sortable(self.created_at),
            "words": made.words,
            "keys": made.keys,
        }


def sortable(moment: datetime) -> str:
    """An FTS5 column holds text: times in one UTC format, so they sort as they happened."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


_SQLITE_INSERT = text(
    "INSERT INTO conversation_fts (item_id, session_id, kind, created_at, tenant, words, keys) "
    "VALUES (:item_id, :session_id, :kind, :sortable_at, :tenant, :words, :keys)"
)
_POSTGRES_INSERT = text(
    "INSERT INTO conversation_search (item_id, tenant_id, session_id, kind, created_at, words, keys) "
    "VALUES (:item_id, :tenant_id, :session_id, :kind, :created_at, CAST(:words AS tsvector), CAST(:keys AS tsvector))"
)


async def add(connection: AsyncConnection, entries: list[Entry]) -> None:
    """Index ``entries`` in the connection's transaction (the one storing them)."""
    if entries:
        statement = _POSTGRES_INSERT if connection.dialect.name == "postgresql" else _SQLITE_INSERT
        await connection.execute(statement, [entry.values() for entry in entries])


def add_now(connection: Connection, entries: list[Entry]) -> None:
    """``add`` on a synchronous connection: a migration's."""
    if entries:
        statement = _POSTGRES_INSERT if connection.dialect.name == "postgresql" else _SQLITE_INSERT
        connection.execute(statement, [entry.values() for entry in entries])
