"""Each tenant is on a plan of the pricebook (starter by default).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("plan", sa.String(20), nullable=False, server_default="starter"))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("plan")
