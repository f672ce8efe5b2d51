"""Feedback: the visitor's rating of each AI reply (with the persona and knowledge entries it came from)
and of each conversation.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_ratings",
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("message_id", sa.String(36), primary_key=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("helpful", sa.Boolean, nullable=False),
        sa.Column("persona", sa.String(200), nullable=True),
        sa.Column("sources", sa.JSON, nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_message_ratings_tenant_rated", "message_ratings", ["tenant_id", "rated_at"])
    op.create_table(
        "session_ratings",
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("stars", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_session_ratings_tenant_rated", "session_ratings", ["tenant_id", "rated_at"])


def downgrade() -> None:
    op.drop_index("ix_session_ratings_tenant_rated", "session_ratings")
    op.drop_table("session_ratings")
    op.drop_index("ix_message_ratings_tenant_rated", "message_ratings")
    op.drop_table("message_ratings")
