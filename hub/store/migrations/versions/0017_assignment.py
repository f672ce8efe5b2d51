"""Assignment and labels: a conversation is assigned to a staff member (and transferred with a note), and
carries labels the tenant defines.

``chat_sessions`` gets ``assignee_id`` (the staff member responsible; their name is read from ``users``),
``assigned_at`` and ``transfer`` (the staff-only note it was last transferred with: who, when, what).
``assignments`` keeps every assignment (round-robin reads whose turn it is from it); ``labels`` are a
tenant's labels and ``session_labels`` which conversation carries which. The index on ``assignee_id``
covers a column the writer never changes, so its bumps stay heap-only updates.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chat_sessions") as batch:
        batch.add_column(sa.Column("assignee_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("transfer", sa.JSON, nullable=True))
    op.create_index("ix_chat_sessions_tenant_assignee", "chat_sessions", ["tenant_id", "assignee_id"])
    op.create_table(
        "assignments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("assignee_id", sa.String(36), nullable=True),
        sa.Column("by_id", sa.String(36), nullable=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_assignments_tenant_assignee", "assignments", ["tenant_id", "assignee_id", "created_at"])
    op.create_table(
        "labels",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("color", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_labels_tenant", "labels", ["tenant_id"])
    op.create_table(
        "session_labels",
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("label_id", sa.String(36), sa.ForeignKey("labels.id"), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_session_labels_label", "session_labels", ["tenant_id", "label_id"])


def downgrade() -> None:
    op.drop_index("ix_session_labels_label", table_name="session_labels")
    op.drop_table("session_labels")
    op.drop_index("ix_labels_tenant", table_name="labels")
    op.drop_table("labels")
    op.drop_index("ix_assignments_tenant_assignee", table_name="assignments")
    op.drop_table("assignments")
    op.drop_index("ix_chat_sessions_tenant_assignee", table_name="chat_sessions")
    with op.batch_alter_table("chat_sessions") as batch:
        batch.drop_column("transfer")
        batch.drop_column("assigned_at")
        batch.drop_column("assignee_id")
