"""Assignment history and visitor-context retention.

``assignments`` gets ``previous_id`` (who the conversation was assigned to before the change) and an index by
conversation, so one conversation's history is read without scanning the tenant's; the rows kept before this
revision get theirs from the row before them, and a plain assignment that replaced someone becomes
``reassign``. ``visitor_contexts`` gets an index on ``last_seen_at``, so the retention sweeper finds the
oldest rows without reading the table.

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("previous_id", sa.String(36), nullable=True))
    op.create_index("ix_assignments_session", "assignments", ["tenant_id", "session_id", "created_at"])
    op.execute(
        """
        UPDATE assignments SET previous_id = (
            SELECT earlier.assignee_id FROM assignments AS earlier
            WHERE earlier.tenant_id = assignments.tenant_id AND earlier.session_id = assignments.session_id
              AND earlier.created_at < assignments.created_at
            ORDER BY earlier.created_at DESC LIMIT 1
        )
        """
    )
    op.execute("UPDATE assignments SET kind = 'reassign' WHERE kind = 'assign' AND previous_id IS NOT NULL")
    op.create_index("ix_visitor_contexts_last_seen", "visitor_contexts", ["last_seen_at"])


def downgrade() -> None:
    op.drop_index("ix_visitor_contexts_last_seen", table_name="visitor_contexts")
    op.execute("UPDATE assignments SET kind = 'assign' WHERE kind = 'reassign'")
    op.drop_index("ix_assignments_session", table_name="assignments")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("previous_id")
