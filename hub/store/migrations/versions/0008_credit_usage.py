"""AI credits used per tenant and month.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_usage",
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_credit_usage_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("tenant_id", "month", name="pk_credit_usage"),
    )


def downgrade() -> None:
    op.drop_table("credit_usage")
