"""Sessions: every message's bump of ``last_seq``/``updated_at`` becomes a cheap heap-only update.

Two things made each stored message cost PostgreSQL about 150 µs of CPU (measured, 20 a batch):

- an index holding ``updated_at``: each bump wrote a new entry into every index of
  ``chat_sessions``, and the dead entries piled up under each session's key. Without it, and with
  room left in each page for new row versions (``fillfactor``), a bump is a HOT update: no index
  touched. Mission Control's list sorts a tenant's sessions itself; analytics gets the index it reads.
- the foreign key from ``messages`` to ``chat_sessions``: the writer bumps the session and inserts
  its messages in one statement, and the key check's share lock on a row the same transaction has
  just updated makes PostgreSQL create a multixact for every message (about 100 µs each). The
  writer is the only code that inserts messages and upserts their session in that same statement,
  so a message without its session cannot be written; the key is dropped.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

MESSAGES_SESSION_FK = "fk_messages_tenant_id_chat_sessions"


def upgrade() -> None:
    op.drop_index("ix_chat_sessions_tenant_updated", "chat_sessions")
    op.create_index("ix_chat_sessions_tenant_created", "chat_sessions", ["tenant_id", "created_at"])
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint(MESSAGES_SESSION_FK, type_="foreignkey")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE chat_sessions SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE chat_sessions RESET (fillfactor)")
    with op.batch_alter_table("messages") as batch:
        batch.create_foreign_key(MESSAGES_SESSION_FK, "chat_sessions", ["tenant_id", "session_id"], ["tenant_id", "id"])
    op.drop_index("ix_chat_sessions_tenant_created", "chat_sessions")
    op.create_index("ix_chat_sessions_tenant_updated", "chat_sessions", ["tenant_id", "updated_at"])
