"""Visitor context: the page a visitor is on, the pages of the visit, first seen, visits, languages, time zone.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visitor_contexts",
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("visits", sa.Integer, nullable=False),
        sa.Column("visit_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("page", sa.JSON, nullable=True),
        sa.Column("pages", sa.JSON, nullable=False),
        sa.Column("widget_language", sa.String(35), nullable=True),
        sa.Column("browser_language", sa.String(35), nullable=True),
        sa.Column("time_zone", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("visitor_contexts")
