"""Knowledge: the entries a tenant's AI answers from, with each backend's own full-text index, and the
questions it could not answer from them (``unanswered``).

SQLite: ``knowledge_fts``, an FTS5 table (``unicode61 remove_diacritics 2``, prefix indexes for the stem
prefixes retrieval asks for) kept by triggers; its ``tenant`` column holds one token per tenant, so a
search matches inside its tenant in the index itself. ``ł`` has no Unicode decomposition, so the
triggers fold it before the tokenizer sees it.

PostgreSQL: ``hub_fold(text)``, an IMMUTABLE ``lower`` + ``translate`` of Polish and common Latin
accents, with "e-bike" also written "ebike" as ``hub.knowledge.text.words`` does (``unaccent`` is only
STABLE, so no index or generated column may use it, and creating it needs rights a hosted database
may not give), and ``search``, a generated ``tsvector``: the folded title (weight A) and body (B)
under the ``simple`` configuration, plus English stems (C) for English entries; a GIN index on it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Kept in step with hub.knowledge.text.fold (a test compares them).
ACCENTED = "ąćęłńóśźżáàâäãåčďéèêëěíìîïľĺňñôöõřŕšťúùûüůýÿžß"
PLAIN = "acelnoszzaaaaaacdeeeeeiiiillnnooorrstuuuuuyyzs"

# Only the tenant's own rows are scanned for the old entry (an FTS5 table has no index on entry_id).
DELETE_OLD = (
    "DELETE FROM knowledge_fts WHERE rowid IN (SELECT rowid FROM knowledge_fts WHERE knowledge_fts MATCH "
    "'tenant : t' || replace(old.tenant_id, '-', '') AND entry_id = old.id)"
)
SQLITE_FOLD = "replace(replace({0}, 'ł', 'l'), 'Ł', 'L')"


def _sqlite_values(row: str) -> str:
    return (
        f"{row}.id, 't' || replace({row}.tenant_id, '-', ''), "
        f"{SQLITE_FOLD.format(row + '.title')}, {SQLITE_FOLD.format(row + '.body')}"
    )


def upgrade() -> None:
    op.create_table(
        "knowledge",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("url", sa.String(2000), nullable=True),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_knowledge_tenant", "knowledge", ["tenant_id", "updated_at"])
    op.create_table(
        "unanswered",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("question", sa.String(500), nullable=False),
        sa.Column("grouping", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_unanswered_tenant_asked", "unanswered", ["tenant_id", "asked_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION hub_fold(value text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS "
            f"$$ SELECT regexp_replace(translate(lower(value), '{ACCENTED}', '{PLAIN}'), "
            r"'\m([a-z]{1,2})-([a-z]+)', '\1\2 \1-\2', 'g') $$"
        )
        op.execute(
            "ALTER TABLE knowledge ADD COLUMN search tsvector GENERATED ALWAYS AS ("
            "setweight(to_tsvector('simple'::regconfig, hub_fold(title)), 'A') || "
            "setweight(to_tsvector('simple'::regconfig, hub_fold(body)), 'B') || "
            "CASE WHEN language = 'en' THEN setweight(to_tsvector('english'::regconfig, title || ' ' || body), 'C') "
            "ELSE ''::tsvector END) STORED"
        )
        op.execute("CREATE INDEX ix_knowledge_search ON knowledge USING gin (search)")
        return
    op.execute(
        "CREATE VIRTUAL TABLE knowledge_fts USING fts5(entry_id UNINDEXED, tenant, title, body, "
        "tokenize = 'unicode61 remove_diacritics 2', prefix = '3 4 5')"
    )
    op.execute(
        "CREATE TRIGGER knowledge_fts_insert AFTER INSERT ON knowledge BEGIN "
        f"INSERT INTO knowledge_fts (entry_id, tenant, title, body) VALUES ({_sqlite_values('new')}); END"
    )
    op.execute(
        "CREATE TRIGGER knowledge_fts_update AFTER UPDATE ON knowledge BEGIN "
        f"{DELETE_OLD}; "
        f"INSERT INTO knowledge_fts (entry_id, tenant, title, body) VALUES ({_sqlite_values('new')}); END"
    )
    op.execute(f"CREATE TRIGGER knowledge_fts_delete AFTER DELETE ON knowledge BEGIN {DELETE_OLD}; END")


def downgrade() -> None:
    op.drop_index("ix_unanswered_tenant_asked", "unanswered")
    op.drop_table("unanswered")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_table("knowledge")
        op.execute("DROP FUNCTION hub_fold(text)")
        return
    for trigger in ("knowledge_fts_insert", "knowledge_fts_update", "knowledge_fts_delete"):
        op.execute(f"DROP TRIGGER {trigger}")
    op.execute("DROP TABLE knowledge_fts")
    op.drop_index("ix_knowledge_tenant", "knowledge")
    op.drop_table("knowledge")
