"""Web Push: agents' push subscriptions, and the alerts each wait for a person has had.

``push_subscriptions`` holds one browser's subscription per row (its id is the SHA-256 of the push
endpoint, so a browser that subscribes again replaces its row). ``handoffs`` gets ``alerted_at`` (the first
alert was claimed by a node), ``escalate_at`` (when the wait outgrows the tenant's limit in force when it
began) and ``escalated_at`` (the escalation was claimed): each is set by one conditional UPDATE, so one
node alone sends each alert. Partial indexes keep the sweeper's queries on the open, unclaimed few.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UNALERTED = "alerted_at IS NULL AND ended_at IS NULL"
UNESCALATED = "escalated_at IS NULL AND ended_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("endpoint", sa.String(1024), nullable=False),
        sa.Column("p256dh", sa.String(100), nullable=False),
        sa.Column("auth", sa.String(50), nullable=False),
        sa.Column("language", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_push_subscriptions_tenant_id", "push_subscriptions", ["tenant_id"])
    op.create_index("ix_push_subscriptions_user_id", "push_subscriptions", ["user_id"])
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_handoffs_unalerted",
        "handoffs",
        ["requested_at"],
        postgresql_where=sa.text(UNALERTED),
        sqlite_where=sa.text(UNALERTED),
    )
    op.create_index(
        "ix_handoffs_escalation_due",
        "handoffs",
        ["escalate_at"],
        postgresql_where=sa.text(UNESCALATED),
        sqlite_where=sa.text(UNESCALATED),
    )


def downgrade() -> None:
    op.drop_index("ix_handoffs_escalation_due", "handoffs")
    op.drop_index("ix_handoffs_unalerted", "handoffs")
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_column("escalated_at")
        batch.drop_column("escalate_at")
        batch.drop_column("alerted_at")
    op.drop_index("ix_push_subscriptions_user_id", "push_subscriptions")
    op.drop_index("ix_push_subscriptions_tenant_id", "push_subscriptions")
    op.drop_table("push_subscriptions")
