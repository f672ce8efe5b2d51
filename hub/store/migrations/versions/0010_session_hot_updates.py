"""Sessions: every message's bump of ``last_seq``/``updated_at`` becomes a heap-only (HOT) update.

An index holding ``updated_at`` made each message write a new index entry in every index of
``chat_sessions``; the dead entries piled up under each session's key and slowed the foreign-key
check of every later message (measured: 110 µs per message at 20 messages a batch). Without it, and
with room left in each page for the new row versions (PostgreSQL ``fillfactor``), the bump touches
no index. Mission Control's list sorts a tenant's sessions itself; analytics gets the index it reads.

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


def upgrade() -> None:
    op.drop_index("ix_chat_sessions_tenant_updated", "chat_sessions")
    op.create_index("ix_chat_sessions_tenant_created", "chat_sessions", ["tenant_id", "created_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE chat_sessions SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE chat_sessions RESET (fillfactor)")
    op.drop_index("ix_chat_sessions_tenant_created", "chat_sessions")
    op.create_index("ix_chat_sessions_tenant_updated", "chat_sessions", ["tenant_id", "updated_at"])
