"""The versioned pricebook, seeded with the product page's table as version 1 ("pricebook-seed V1").

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# A copy, not an import: a migration must keep meaning what it meant when it was written.
SEED_PLANS = [
    {"id": "starter", "name": "Starter", "price_usd_month": 79, "ai_credits_month": 15000, "seats": 3,
     "integrations": 1, "support": "standard"},
    {"id": "pro", "name": "Pro", "price_usd_month": 249, "ai_credits_month": 75000, "seats": 10,
     "integrations": 3, "support": "priority"},
    {"id": "enterprise", "name": "Enterprise", "price_usd_month": 899, "ai_credits_month": 250000, "seats": None,
     "integrations": 10, "support": "dedicated"},
]  # fmt: skip


def upgrade() -> None:
    table = op.create_table(
        "pricebook_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("plans", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("version", name="pk_pricebook_versions"),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        table,
        [{"version": 1, "label": "pricebook-seed V1", "plans": SEED_PLANS, "created_by": None,
          "created_at": now, "published_at": now}],
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("pricebook_versions")
