"""Handoffs: a session can wait for a person (since when, why), and every request for one is kept.

``chat_sessions`` gets the current state (``waiting_since``, ``waiting_reason``, ``waiting_note``: no
index, so the writer's bumps stay heap-only updates); ``handoffs`` keeps each request with how it ended
(taken by an agent, or missed: the session closed first), for the queue's history and for analytics.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chat_sessions") as batch:
        batch.add_column(sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("waiting_reason", sa.String(20), nullable=True))
        batch.add_column(sa.Column("waiting_note", sa.String(200), nullable=True))
    op.create_table(
        "handoffs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("note", sa.String(200), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(10), nullable=True),
        sa.Column("taken_by", sa.String(36), nullable=True),
    )
    op.create_index("ix_handoffs_tenant_requested", "handoffs", ["tenant_id", "requested_at"])
    op.create_index("ix_handoffs_open", "handoffs", ["tenant_id", "session_id", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_handoffs_open", "handoffs")
    op.drop_index("ix_handoffs_tenant_requested", "handoffs")
    op.drop_table("handoffs")
    with op.batch_alter_table("chat_sessions") as batch:
        batch.drop_column("waiting_note")
        batch.drop_column("waiting_reason")
        batch.drop_column("waiting_since")
