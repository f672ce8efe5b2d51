"""Session ownership for agent takeover, and an index for Mission Control's session list.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chat_sessions") as batch:
        batch.add_column(sa.Column("owner_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("owner_name", sa.String(200), nullable=True))
    op.create_index("ix_chat_sessions_tenant_updated", "chat_sessions", ["tenant_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_chat_sessions_tenant_updated", "chat_sessions")
    with op.batch_alter_table("chat_sessions") as batch:
        batch.drop_column("owner_name")
        batch.drop_column("owner_id")
