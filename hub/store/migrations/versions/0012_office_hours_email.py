"""Office hours and email continuity: a visitor may leave an email address, and handoffs say whether they
started outside the tenant's office hours.

``chat_sessions`` gets ``visitor_email`` and ``visitor_language`` (the language the emails are written in)
and ``emailed_seq`` (the newest agent message already emailed: a reply is emailed at most once);
``handoffs`` gets ``outside_hours`` for analytics. No index: the writer's bumps stay heap-only updates.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chat_sessions") as batch:
        batch.add_column(sa.Column("visitor_email", sa.String(254), nullable=True))
        batch.add_column(sa.Column("visitor_language", sa.String(8), nullable=True))
        batch.add_column(sa.Column("emailed_seq", sa.Integer, nullable=True))
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("outside_hours", sa.Boolean, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_column("outside_hours")
    with op.batch_alter_table("chat_sessions") as batch:
        batch.drop_column("emailed_seq")
        batch.drop_column("visitor_language")
        batch.drop_column("visitor_email")
