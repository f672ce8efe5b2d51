"""Mentions kept: one row per person a note mentions, read or not (Mission Control's Mentions inbox), and the
language each staff member last opened Mission Control in (the mention email is written in it).

``mentions`` is listed per person, newest first (``ix_mentions_inbox``); the unread count reads only the unread
rows (a partial index). Notes written before this migration put their people in the inbox too, as read: each was
alerted live when the note was written (``_backfill``).
``users.language`` stays empty until the person next opens Mission Control (their emails are English until then).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-09
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from hub.store.tables import mentions, notes, users

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
    _backfill(op.get_bind())


def _backfill(connection: sa.Connection) -> None:
    """Each staff member a note written before mentioned (but its author), in their inbox as read. Only the columns
    that exist at this revision are named (the tables' current definitions may have more)."""
    staff = {(row.tenant_id, row.id) for row in connection.execute(sa.select(users.c.id, users.c.tenant_id))}
    written = sa.select(notes.c.id, notes.c.tenant_id, notes.c.session_id, notes.c.author_id, notes.c.mentions)
    now, rows = datetime.now(UTC), []
    for note in connection.execute(written.add_columns(notes.c.created_at)):
        named = {str(m.get("id")) for m in note.mentions or [] if isinstance(m, dict) and m.get("id")}
        for user_id in sorted(named - {note.author_id}):
            if (note.tenant_id, user_id) in staff:
                rows.append(
                    {
                        "id": str(uuid.uuid4()),
                        "tenant_id": note.tenant_id,
                        "note_id": note.id,
                        "session_id": note.session_id,
                        "user_id": user_id,
                        "author_id": note.author_id,
                        "created_at": note.created_at,
                        "read_at": now,
                    }
                )
    if rows:
        connection.execute(sa.insert(mentions), rows)


def downgrade() -> None:
    op.drop_index("ix_mentions_unread", table_name="mentions")
    op.drop_index("ix_mentions_inbox", table_name="mentions")
    op.drop_table("mentions")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
