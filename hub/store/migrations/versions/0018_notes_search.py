"""Private notes on a conversation (staff only), and a full-text index over every conversation of a tenant.

``notes``: what staff write beside a conversation, never part of its transcript (``messages``): no seq, no
visitor, no AI, no webhook reads this table. ``after_seq`` places a note in the transcript (after that
message); ``mentions`` keeps the people it alerted, as ``[{"id", "name"}]``.

The search index covers the visitor's, the AI's and the agents' messages and the notes, folded as the
knowledge index folds (migration 0014, ``hub.knowledge.text.fold``):

SQLite: ``conversation_fts``, an FTS5 table kept by triggers on both tables (``kind`` says which), with
one token per tenant in its ``tenant`` column, as ``knowledge_fts`` does; existing messages are copied in.

PostgreSQL: a GIN index on ``to_tsvector('simple', hub_fold(text))`` of each table (an expression index,
not a generated column: adding a stored column would rewrite ``messages``, the largest table, under an
exclusive lock; the index build only blocks writes while it runs). ``hub_fold`` is migration 0014's, now
computed every time a message is stored: its ``translate`` of 46 accented letters cost about 0.2 ms per
300 characters (measured), so text with no character beyond ASCII, which it cannot change, skips it (the
same result, an order of magnitude cheaper for English).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08
"""

from __future__ import annotations

from importlib import import_module

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# The document each search reads (hub.store.search uses the same expression, so PostgreSQL uses the index).
PG_DOCUMENT = "to_tsvector('simple'::regconfig, hub_fold(text))"
SEARCHED_ROLES = ("visitor", "ai", "agent")  # system messages ("Anna joined the chat") are not searched
SQLITE_FOLD = "replace(replace({0}, 'ł', 'l'), 'Ł', 'L')"  # as migration 0014: ł has no decomposition
TENANT_TOKEN = "'t' || replace({0}.tenant_id, '-', '')"  # hub.knowledge.search.tenant_token
_0014 = import_module("hub.store.migrations.versions.0014_knowledge")
HYPHENATED = r"regexp_replace({0}, '\m([a-z]{{1,2}})-([a-z]+)', '\1\2 \1-\2', 'g')"  # as migration 0014's


def _fold(lowered: str) -> str:
    return f"translate({lowered}, '{_0014.ACCENTED}', '{_0014.PLAIN}')"


# Migration 0014's hub_fold, and the same function with the fast path for ASCII text.
FOLD_0014 = HYPHENATED.format(_fold("lower(value)"))
BEYOND_ASCII = r"value ~ '[^\x01-\x7f]'"
FOLD = HYPHENATED.format(f"CASE WHEN {BEYOND_ASCII} THEN {_fold('lower(value)')} ELSE lower(value) END")


def _hub_fold(body: str) -> str:
    return (
        "CREATE OR REPLACE FUNCTION hub_fold(value text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE "
        f"AS $$ SELECT {body} $$"
    )


def _delete_old(kind: str) -> str:
    # Only the tenant's own rows are scanned (an FTS5 table has no index on doc_id).
    return (
        "DELETE FROM conversation_fts WHERE rowid IN (SELECT rowid FROM conversation_fts WHERE conversation_fts "
        f"MATCH 'tenant : t' || replace(old.tenant_id, '-', '') AND doc_id = old.id AND kind = '{kind}')"
    )


def _insert(kind: str, row: str) -> str:
    return (
        "INSERT INTO conversation_fts (doc_id, kind, tenant, body) "
        f"VALUES ({row}.id, '{kind}', {TENANT_TOKEN.format(row)}, {SQLITE_FOLD.format(row + '.text')})"
    )


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("author_id", sa.String(36), nullable=False),
        sa.Column("author_name", sa.String(200), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("mentions", sa.JSON, nullable=False),
        sa.Column("after_seq", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_notes_session", "notes", ["tenant_id", "session_id", "created_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_hub_fold(FOLD))
        op.execute(f"CREATE INDEX ix_messages_search ON messages USING gin ({PG_DOCUMENT})")
        op.execute(f"CREATE INDEX ix_notes_search ON notes USING gin ({PG_DOCUMENT})")
        return
    roles = ", ".join(f"'{role}'" for role in SEARCHED_ROLES)
    op.execute(
        "CREATE VIRTUAL TABLE conversation_fts USING fts5(doc_id UNINDEXED, kind UNINDEXED, tenant, body, "
        "tokenize = 'unicode61 remove_diacritics 2', prefix = '3 4 5')"
    )
    op.execute(
        f"CREATE TRIGGER conversation_fts_message AFTER INSERT ON messages WHEN new.role IN ({roles}) "
        f"BEGIN {_insert('message', 'new')}; END"
    )
    op.execute(
        f"CREATE TRIGGER conversation_fts_message_gone AFTER DELETE ON messages WHEN old.role IN ({roles}) "
        f"BEGIN {_delete_old('message')}; END"
    )
    op.execute(f"CREATE TRIGGER conversation_fts_note AFTER INSERT ON notes BEGIN {_insert('note', 'new')}; END")
    op.execute(f"CREATE TRIGGER conversation_fts_note_gone AFTER DELETE ON notes BEGIN {_delete_old('note')}; END")
    op.execute(
        "INSERT INTO conversation_fts (doc_id, kind, tenant, body) "
        f"SELECT m.id, 'message', {TENANT_TOKEN.format('m')}, {SQLITE_FOLD.format('m.text')} "
        f"FROM messages AS m WHERE m.role IN ({roles})"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_messages_search")
        op.execute(_hub_fold(FOLD_0014))
    else:
        for trigger in (
            "conversation_fts_message",
            "conversation_fts_message_gone",
            "conversation_fts_note",
            "conversation_fts_note_gone",
        ):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE conversation_fts")
    op.drop_index("ix_notes_session", table_name="notes")
    op.drop_table("notes")
