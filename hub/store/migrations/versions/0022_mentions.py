"""Mentions kept: one row per person a note mentions, read or not (Mission Control's Mentions inbox), and the
language each staff member last opened Mission Control in (the mention email is written in it).

``mentions`` is listed per person, newest first (``ix_mentions_inbox``); the unread count reads only the unread
rows (a partial index). Notes written before this migration alerted their people live only, and are not listed.
``users.language`` stays empty until the person next opens Mission Control (their emails are English until then).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("language", sa.String(10), nullable=True))
    op.create_table(
        "mentions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("note_id", sa.String(36), sa.ForeignKey("notes.id"), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("author_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("note_id", "user_id", name="uq_mentions_note_user"),
    )
    op.create_index("ix_mentions_inbox", "mentions", ["tenant_id", "user_id", "created_at"])
    op.create_index(
        "ix_mentions_unread",
        "mentions",
        ["tenant_id", "user_id"],
        postgresql_where=sa.text("read_at IS NULL"),
        sqlite_where=sa.text("read_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_mentions_unread", table_name="mentions")
    op.drop_index("ix_mentions_inbox", table_name="mentions")
    op.drop_table("mentions")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
