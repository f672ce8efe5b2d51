"""Personas: how Bob speaks for a tenant; every existing tenant gets its active default persona.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "personas",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("tone", sa.String(100), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_personas_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_personas"),
    )
    op.create_index("ix_personas_tenant", "personas", ["tenant_id"])
    # One active persona per tenant, held by the database even when two admins activate at once.
    active = sa.text("active")
    op.create_index(
        "uq_personas_one_active", "personas", ["tenant_id"], unique=True, postgresql_where=active, sqlite_where=active
    )
    tenants = sa.table(
        "tenants", sa.column("id", sa.String), sa.column("name", sa.String), sa.column("config", sa.JSON)
    )
    now = datetime.now(UTC)
    rows = []
    for tenant_id, business, config in op.get_bind().execute(sa.select(tenants.c.id, tenants.c.name, tenants.c.config)):
        given = (config or {}).get("persona") or {}
        name = str(given.get("name") or "Bob")[:60]
        prompt = given.get("systemPrompt") or (
            f"You are {name}, the AI front-office assistant of {business}. Answer briefly and kindly. If you do not "
            "know the answer, say so and offer to bring in a person from the team; never invent prices, dates or "
            "promises."
        )
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "tenant_id": tenant_id,
                "name": name,
                "description": f"The AI front-office assistant of {business}"[:500],
                "tone": "" if given.get("systemPrompt") else "friendly, clear and brief",
                "system_prompt": str(prompt),
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
        )
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_index("uq_personas_one_active", "personas")
    op.drop_index("ix_personas_tenant", "personas")
    op.drop_table("personas")
