"""Conversation search reads one index entry per message and note, made in Python (``hub.store.search_index``).

Migration 0018 indexed each item's text in SQL (FTS5 triggers; GIN expression indexes over ``hub_fold``). The
search now also matches Polish words whose stem alternates ("hamulec" / "hamulce", "pies" / "psa"), through
keys made by ``hub.knowledge.polish.key``: Python, which neither SQLite's triggers nor PostgreSQL's indexes can
run. So each entry is written by the hub in the transaction that stores the item, and holds its conversation
and time, for a search that matches words across a conversation's items without reading them.

SQLite: ``conversation_fts`` is made anew (FTS5: the conversation, kind and time unindexed; ``tenant`` the
tenant's token; ``words`` and ``keys``); the insert triggers go, the delete triggers stay.
PostgreSQL: ``conversation_search``, one row per entry, ``words`` and ``keys`` tsvectors with a GIN index each,
and a trigger deleting an entry with its item; the expression indexes of 0018 go (nothing reads them now, and
every message stored paid for them). ``hub_fold`` stays: the knowledge index uses it.

Every message and note already stored is indexed here, in batches, with the hub's own code: 100,000 messages
took 4 s on SQLite and 5 s on PostgreSQL on the project's test machine (docs/PERFORMANCE.md); on PostgreSQL
the old indexes are dropped first, so writes do not wait on a long build.

Revision ID: 0023
Revises: 0024
Create Date: 2026-12-09
"""

from __future__ import annotations

from importlib import import_module

import sqlalchemy as sa
from alembic import op

from hub.store.search_index import SEARCHED_ROLES, Entry, add_now
from hub.store.tables import UTCDateTime

revision = "0023"
down_revision = "0024"
branch_labels = None
depends_on = None

BATCH = 2000
_ROLES = ", ".join(f"'{role}'" for role in SEARCHED_ROLES)
_0018 = import_module("hub.store.migrations.versions.0018_notes_search")


def _sqlite_gone(table: str, kind: str) -> str:
    # Only the tenant's own entries are scanned (an FTS5 table has no index on item_id).
    when = f" WHEN old.role IN ({_ROLES})" if table == "messages" else ""
    return (
        f"CREATE TRIGGER conversation_fts_{kind}_gone AFTER DELETE ON {table}{when} BEGIN "
        "DELETE FROM conversation_fts WHERE rowid IN (SELECT rowid FROM conversation_fts WHERE conversation_fts "
        "MATCH 'tenant : t' || replace(old.tenant_id, '-', '') AND item_id = old.id); END"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_messages_search")
        op.execute("DROP INDEX ix_notes_search")
        op.execute(
            "CREATE TABLE conversation_search (item_id varchar(36) PRIMARY KEY, tenant_id varchar(36) NOT NULL, "
            "session_id varchar(64) NOT NULL, kind varchar(8) NOT NULL, created_at timestamptz NOT NULL, "
            "words tsvector NOT NULL, keys tsvector NOT NULL)"
        )
        _index_stored()
        # Built after the rows are in: one build is much faster than as many inserts into a GIN index.
        op.execute("CREATE INDEX ix_conversation_search_words ON conversation_search USING gin (words)")
        op.execute("CREATE INDEX ix_conversation_search_keys ON conversation_search USING gin (keys)")
        op.execute(
            "CREATE FUNCTION hub_forget_search_entry() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN DELETE FROM conversation_search WHERE item_id = old.id; RETURN NULL; END $$"
        )
        for table in ("messages", "notes"):
            op.execute(
                f"CREATE TRIGGER {table}_search_gone AFTER DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION hub_forget_search_entry()"
            )
        return
    for trigger in ("message", "message_gone", "note", "note_gone"):
        op.execute(f"DROP TRIGGER conversation_fts_{trigger}")
    op.execute("DROP TABLE conversation_fts")
    op.execute(
        "CREATE VIRTUAL TABLE conversation_fts USING fts5(item_id UNINDEXED, session_id UNINDEXED, "
        "kind UNINDEXED, created_at UNINDEXED, tenant, words, keys, prefix = '3 4 5')"
    )
    _index_stored()
    op.execute(_sqlite_gone("messages", "message"))
    op.execute(_sqlite_gone("notes", "note"))


def _index_stored() -> None:
    """Every searched message and every note, in batches in the order of their ids (the primary key's)."""
    bind = op.get_bind()
    for table, kind, where in (("messages", "message", f"role IN ({_ROLES}) AND "), ("notes", "note", "")):
        after = ""
        while True:
            rows = bind.execute(
                sa.text(
                    f"SELECT id, tenant_id, session_id, text, created_at FROM {table} "
                    f"WHERE {where}id > :after ORDER BY id LIMIT {BATCH}"
                ).columns(created_at=UTCDateTime()),
                {"after": after},
            ).all()
            if not rows:
                break
            entries = [Entry(row.id, row.tenant_id, row.session_id, kind, row.created_at, row.text) for row in rows]
            add_now(bind, entries)
            after = rows[-1].id


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("messages", "notes"):
            op.execute(f"DROP TRIGGER {table}_search_gone ON {table}")
        op.execute("DROP FUNCTION hub_forget_search_entry()")
        op.execute("DROP TABLE conversation_search")
        op.execute(f"CREATE INDEX ix_messages_search ON messages USING gin ({_0018.PG_DOCUMENT})")
        op.execute(f"CREATE INDEX ix_notes_search ON notes USING gin ({_0018.PG_DOCUMENT})")
        return
    op.execute("DROP TRIGGER conversation_fts_message_gone")
    op.execute("DROP TRIGGER conversation_fts_note_gone")
    op.execute("DROP TABLE conversation_fts")
    op.execute(
        "CREATE VIRTUAL TABLE conversation_fts USING fts5(doc_id UNINDEXED, kind UNINDEXED, tenant, body, "
        "tokenize = 'unicode61 remove_diacritics 2', prefix = '3 4 5')"
    )
    op.execute(
        f"CREATE TRIGGER conversation_fts_message AFTER INSERT ON messages WHEN new.role IN ({_ROLES}) "
        f"BEGIN {_0018._insert('message', 'new')}; END"
    )
    op.execute(
        f"CREATE TRIGGER conversation_fts_message_gone AFTER DELETE ON messages WHEN old.role IN ({_ROLES}) "
        f"BEGIN {_0018._delete_old('message')}; END"
    )
    op.execute(f"CREATE TRIGGER conversation_fts_note AFTER INSERT ON notes BEGIN {_0018._insert('note', 'new')}; END")
    op.execute(
        f"CREATE TRIGGER conversation_fts_note_gone AFTER DELETE ON notes BEGIN {_0018._delete_old('note')}; END"
    )
    for table, kind, where in (("messages", "message", f"WHERE role IN ({_ROLES})"), ("notes", "note", "")):
        op.execute(
            "INSERT INTO conversation_fts (doc_id, kind, tenant, body) "
            f"SELECT id, '{kind}', 't' || replace(tenant_id, '-', ''), {_0018.SQLITE_FOLD.format('text')} "
            f"FROM {table} {where}"
        )
