"""Widget keys: publishable keys of a tenant, each with its own allowed origins.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "widget_keys",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("mode", sa.String(4), nullable=False),
        sa.Column("origins", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_widget_keys_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("key", name="pk_widget_keys"),
    )
    op.create_index("ix_widget_keys_tenant_id", "widget_keys", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_widget_keys_tenant_id", "widget_keys")
    op.drop_table("widget_keys")
