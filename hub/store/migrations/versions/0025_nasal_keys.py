"""The conversation search index gives a word written with ą the key of its ę form too ("rąk" and "ręka" meet,
``hub.knowledge.polish.nasal_keys``): the entries of the messages and notes holding an ą are made again.

Only those: a scan of each table for the letter, then their entries deleted and written anew in batches, with
the hub's own code.

Revision ID: 0025
Revises: 0023
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.knowledge.search import tenant_token
from hub.store.search_index import SEARCHED_ROLES, Entry, add_now
from hub.store.tables import UTCDateTime

revision = "0025"
down_revision = "0023"
branch_labels = None
depends_on = None

BATCH = 500
_ROLES = ", ".join(f"'{role}'" for role in SEARCHED_ROLES)


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    for table, kind, where in (("messages", "message", f"role IN ({_ROLES}) AND "), ("notes", "note", "")):
        after = ""
        while True:
            rows = bind.execute(
                sa.text(
                    f"SELECT id, tenant_id, session_id, text, created_at FROM {table} WHERE {where}id > :after "
                    "AND (text LIKE '%ą%' OR text LIKE '%Ą%') ORDER BY id LIMIT :batch"
                ).columns(created_at=UTCDateTime()),
                {"after": after, "batch": BATCH},
            ).all()
            if not rows:
                break
            for row in rows:
                if postgres:
                    bind.execute(sa.text("DELETE FROM conversation_search WHERE item_id = :id"), {"id": row.id})
                else:  # an FTS5 table has no index on item_id: only the tenant's entries are scanned
                    bind.execute(
                        sa.text(
                            "DELETE FROM conversation_fts WHERE rowid IN (SELECT rowid FROM conversation_fts "
                            "WHERE conversation_fts MATCH :tenant AND item_id = :id)"
                        ),
                        {"tenant": f"tenant : {tenant_token(row.tenant_id)}", "id": row.id},
                    )
            entries = [Entry(row.id, row.tenant_id, row.session_id, kind, row.created_at, row.text) for row in rows]
            add_now(bind, entries)
            after = rows[-1].id


def downgrade() -> None:
    """The extra keys do no harm to the code before: nothing to undo."""
