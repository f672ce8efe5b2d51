"""The conversation search index's Polish keys grew (``hub.knowledge.polish``): a word written with ą also has
the key of its ę form ("rąk" and "ręka" meet), and a few irregular stems meet their other forms ("dzień" and
"dnia", ``IRREGULAR``). The entries whose keys change are made again: those of the messages and notes holding an
ą (a scan of each table for the letter), and those the index finds holding a key that now gives way to another.

Revision ID: 0025
Revises: 0023
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

from hub.knowledge.polish import IRREGULAR
from hub.knowledge.search import tenant_token
from hub.store.search_index import SEARCHED_ROLES, Entry, add_now
from hub.store.tables import UTCDateTime

revision = "0025"
down_revision = "0023"
branch_labels = None
depends_on = None

BATCH = 500
_ROLES = ", ".join(f"'{role}'" for role in SEARCHED_ROLES)
_TABLES = (("messages", "message", f"role IN ({_ROLES}) AND "), ("notes", "note", ""))


def upgrade() -> None:
    bind = op.get_bind()
    for table, kind, where in _TABLES:
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
            _make_again(bind, kind, rows)
            after = rows[-1].id
    irregular = _holding_keys(bind, sorted(IRREGULAR))
    for table, kind, where in _TABLES:
        for first in range(0, len(irregular), BATCH):
            rows = bind.execute(
                sa.text(f"SELECT id, tenant_id, session_id, text, created_at FROM {table} WHERE {where}id IN :ids")
                .bindparams(sa.bindparam("ids", expanding=True))
                .columns(created_at=UTCDateTime()),
                {"ids": irregular[first : first + BATCH]},
            ).all()
            if rows:
                _make_again(bind, kind, rows)


def _holding_keys(bind: Connection, keys: Sequence[str]) -> list[str]:
    """The ids of the items whose entries hold one of ``keys`` (looked up in the index)."""
    if bind.dialect.name == "postgresql":
        query = sa.text("SELECT item_id FROM conversation_search WHERE keys @@ to_tsquery('simple', :keys)")
        return list(bind.execute(query, {"keys": " | ".join(keys)}).scalars())
    query = sa.text("SELECT item_id FROM conversation_fts WHERE conversation_fts MATCH :keys")
    return list(bind.execute(query, {"keys": "keys : (" + " OR ".join(keys) + ")"}).scalars())


def _make_again(bind: Connection, kind: str, rows: Sequence[sa.Row[tuple[str, str, str, str, object]]]) -> None:
    for row in rows:
        if bind.dialect.name == "postgresql":
            bind.execute(sa.text("DELETE FROM conversation_search WHERE item_id = :id"), {"id": row.id})
        else:  # an FTS5 table has no index on item_id: only the tenant's entries are scanned
            bind.execute(
                sa.text(
                    "DELETE FROM conversation_fts WHERE rowid IN (SELECT rowid FROM conversation_fts "
                    "WHERE conversation_fts MATCH :tenant AND item_id = :id)"
                ),
                {"tenant": f"tenant : {tenant_token(row.tenant_id)}", "id": row.id},
            )
    add_now(bind, [Entry(row.id, row.tenant_id, row.session_id, kind, row.created_at, row.text) for row in rows])


def downgrade() -> None:
    """The entries made again do no harm to the code before: nothing to undo."""
