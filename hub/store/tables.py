"""Table definitions (SQLAlchemy Core): the transcript is the source of truth for every session.

Sessions and messages are keyed by tenant first, so every lookup names the tenant.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps come back timezone-aware on every backend (SQLite drops the zone; they are stored as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


metadata = MetaData()

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("business_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("origins", JSON, nullable=False),
    Column("config", JSON, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("plan", String(20), nullable=False, server_default="starter"),  # a plan id of the pricebook
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("business_id", name="uq_tenants_business_id"),
)

chat_sessions = Table(
    "chat_sessions",
    metadata,
    Column("tenant_id", String(36), ForeignKey("tenants.id"), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("last_seq", Integer, nullable=False, default=0),
    Column("mode", String(8), nullable=False, default="ai"),
    Column("status", String(8), nullable=False, default="open"),
    Column("owner_id", String(36), nullable=True),  # the agent who took it over (human mode)
    Column("owner_name", String(200), nullable=True),
    Column("waiting_since", UTCDateTime(), nullable=True),  # waiting for a person since (a handoff is open)
    Column("waiting_reason", String(20), nullable=True),  # visitor | ai | credits | agent_left
    Column("waiting_note", String(200), nullable=True),
    Column("visitor_email", String(254), nullable=True),  # left by the visitor: agent replies reach them there
    Column("visitor_language", String(8), nullable=True),  # the language those emails are written in
    Column("emailed_seq", Integer, nullable=True),  # the newest agent message already emailed
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # The staff member responsible for the conversation (migration 0017; the name is read from users), since
    # when, and the staff-only note it was last transferred with ({"by": {"id", "name"}, "note", "at"}).
    Column("assignee_id", String(36), nullable=True),
    Column("assigned_at", UTCDateTime(), nullable=True),
    Column("transfer", JSON, nullable=True),
    Index("ix_chat_sessions_tenant_created", "tenant_id", "created_at"),  # updated_at in no index: HOT updates
    Index("ix_chat_sessions_tenant_assignee", "tenant_id", "assignee_id"),  # the writer never changes it
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("session_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("role", String(8), nullable=False),
    Column("text", Text, nullable=False),
    Column("client_id", String(64), nullable=True),
    Column("meta", JSON, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    # No foreign key to chat_sessions (migration 0010): the writer upserts the session in the statement
    # that inserts its messages, and the key's check cost PostgreSQL a multixact per message.
    UniqueConstraint("tenant_id", "session_id", "seq", name="uq_messages_session_seq"),
    UniqueConstraint("tenant_id", "session_id", "client_id", name="uq_messages_session_client"),
)

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("kind", String(10), nullable=False),  # staff | customer
    Column("email", String(254), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # The language the person last opened Mission Control in (migration 0022): what their emails are written in.
    Column("language", String(10), nullable=True),
    UniqueConstraint("kind", "email", name="uq_users_kind_email"),
)

auth_tokens = Table(
    "auth_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 of the opaque token: a stolen table logs no one in
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False),
    Column("tenant_id", String(36), nullable=False),
    Column("csrf_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Index("ix_auth_tokens_user", "user_id"),  # ending a person's sessions revokes all of their tokens at once
)

# A person invited to a tenant's team (migration 0020): the link's token is stored only as its SHA-256, and
# works once (``accepted_at``), until ``expires_at``, unless revoked. A resend replaces the token.
invites = Table(
    "invites",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("email", String(254), nullable=False),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),  # agent | owner
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("invited_by", String(36), ForeignKey("users.id"), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),  # last emailed; null: handed over as a link
    Column("accepted_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=True),  # the account it made
    Index("ix_invites_tenant", "tenant_id"),
)

# A one-time link that sets a new password (migration 0020), stored as its SHA-256 like a login token.
password_resets = Table(
    "password_resets",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False),
    Column("tenant_id", String(36), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    Index("ix_password_resets_user", "user_id"),
)

widget_keys = Table(
    "widget_keys",
    metadata,
    Column("key", String(64), primary_key=True),  # publishable by design: the Origin check is the guard
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("mode", String(4), nullable=False),  # live | test
    Column("origins", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

pricebook_versions = Table(
    "pricebook_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("label", String(100), nullable=False),
    Column("plans", JSON, nullable=False),
    Column("created_by", String(36), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("published_at", UTCDateTime(), nullable=True),  # set once; the newest published is current
)

canned_replies = Table(
    "canned_replies",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("title", String(80), nullable=False),
    Column("text", String(2000), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_canned_replies_tenant", "tenant_id"),
)

# Every assignment of a conversation (kind: assign, reassign, transfer, takeover, round_robin, unassign): its
# history, and round-robin reads from it whose turn it is. ``by_id`` is None when the hub assigned it
# (round-robin); ``previous_id`` is who it was assigned to before (migration 0024).
assignments = Table(
    "assignments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("session_id", String(64), nullable=False),
    Column("assignee_id", String(36), nullable=True),
    Column("by_id", String(36), nullable=True),
    Column("kind", String(12), nullable=False),
    Column("note", String(500), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("previous_id", String(36), nullable=True),
    Index("ix_assignments_tenant_assignee", "tenant_id", "assignee_id", "created_at"),
    Index("ix_assignments_session", "tenant_id", "session_id", "created_at"),
)

# A tenant's labels (owners and admins define them) and the conversations that carry them.
labels = Table(
    "labels",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("name", String(40), nullable=False),
    Column("color", String(10), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_labels_tenant", "tenant_id"),
)

session_labels = Table(
    "session_labels",
    metadata,
    Column("tenant_id", String(36), ForeignKey("tenants.id"), primary_key=True),
    Column("session_id", String(64), primary_key=True),
    Column("label_id", String(36), ForeignKey("labels.id"), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_session_labels_label", "tenant_id", "label_id"),
)

personas = Table(
    "personas",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("name", String(60), nullable=False),
    Column("description", String(500), nullable=False),
    Column("tone", String(100), nullable=False),
    Column("system_prompt", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_personas_tenant", "tenant_id"),
    Index(
        "uq_personas_one_active", "tenant_id", unique=True, postgresql_where=text("active"), sqlite_where=text("active")
    ),
)

credit_usage = Table(
    "credit_usage",
    metadata,
    Column("tenant_id", String(36), ForeignKey("tenants.id"), primary_key=True),
    Column("month", String(7), primary_key=True),  # YYYY-MM, UTC
    Column("used", Integer, nullable=False),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("url", String(2000), nullable=False),
    Column("events", JSON, nullable=False),
    Column("secret", String(100), nullable=False),  # whsec_…: the receiver verifies with it (Standard Webhooks)
    Column("description", String(200), nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),  # msg_…: the webhook-id header, the same on every attempt
    Column("tenant_id", String(36), nullable=False),
    Column("endpoint_id", String(36), ForeignKey("webhook_endpoints.id"), nullable=False, index=True),
    Column("event_type", String(40), nullable=False),
    Column("payload", Text, nullable=False),  # the exact bytes signed and sent
    Column("status", String(10), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("locked_until", UTCDateTime(), nullable=True),  # a node's lease while it delivers
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime(), nullable=True),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

handoffs = Table(
    "handoffs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("session_id", String(64), nullable=False),
    Column("reason", String(20), nullable=False),  # visitor | ai | credits | agent_left
    Column("note", String(200), nullable=True),  # the visitor's or the model's words, when given
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("outcome", String(10), nullable=True),  # taken | missed
    Column("taken_by", String(36), nullable=True),  # the agent who took the session over
    Column("outside_hours", Boolean, nullable=True),  # requested outside the tenant's office hours
    Column("alerted_at", UTCDateTime(), nullable=True),  # a node claimed the first push alert (migration 0013)
    Column("escalate_at", UTCDateTime(), nullable=True),  # requested_at + the tenant's limit when it began
    Column("escalated_at", UTCDateTime(), nullable=True),  # a node claimed the escalation
    Index("ix_handoffs_tenant_requested", "tenant_id", "requested_at"),
    Index("ix_handoffs_open", "tenant_id", "session_id", "ended_at"),
    Index(
        "ix_handoffs_unalerted",
        "requested_at",
        postgresql_where=text("alerted_at IS NULL AND ended_at IS NULL"),
        sqlite_where=text("alerted_at IS NULL AND ended_at IS NULL"),
    ),
    Index(
        "ix_handoffs_escalation_due",
        "escalate_at",
        postgresql_where=text("escalated_at IS NULL AND ended_at IS NULL"),
        sqlite_where=text("escalated_at IS NULL AND ended_at IS NULL"),
    ),
)

push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 (hex) of the endpoint: one row per browser
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False, index=True),  # the agent it alerts
    Column("endpoint", String(1024), nullable=False),  # the push service's URL for this browser: a secret
    Column("p256dh", String(100), nullable=False),  # the browser's P-256 public key (base64url): payloads are encrypted
    Column("auth", String(50), nullable=False),  # the browser's auth secret (base64url)
    Column("language", String(10), nullable=False),  # Mission Control's language when it subscribed: the alerts' text
    Column("created_at", UTCDateTime(), nullable=False),
)

# What a tenant's AI answers from. The full-text index beside it is per backend (migration 0014): an FTS5
# table kept by triggers on SQLite, a generated tsvector column with a GIN index on PostgreSQL.
knowledge = Table(
    "knowledge",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),  # Markdown
    Column("url", String(2000), nullable=True),  # where the visitor can read more
    Column("language", String(2), nullable=False),  # en | pl
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_knowledge_tenant", "tenant_id", "updated_at"),
)

# Questions the AI answered without matching knowledge, or that ended in a request for a person: what the
# business could add to its knowledge. ``grouping`` is the question's words as sorted stems (similar
# wordings share it).
unanswered = Table(
    "unanswered",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("session_id", String(64), nullable=False),
    Column("question", String(500), nullable=False),
    Column("grouping", String(200), nullable=False),
    Column("reason", String(20), nullable=False),  # no_knowledge | handoff
    Column("asked_at", UTCDateTime(), nullable=False),
    Index("ix_unanswered_tenant_asked", "tenant_id", "asked_at"),
)

# The visitor's rating of an AI reply (one per message: a new one replaces it), with what the reply was
# made of, copied from the message's meta when rated: the persona it spoke as and the titles of the
# knowledge entries it answered from, so analytics need not read the messages.
message_ratings = Table(
    "message_ratings",
    metadata,
    Column("tenant_id", String(36), ForeignKey("tenants.id"), primary_key=True),
    Column("message_id", String(36), primary_key=True),
    Column("session_id", String(64), nullable=False),
    Column("helpful", Boolean, nullable=False),
    Column("persona", String(200), nullable=True),
    Column("sources", JSON, nullable=False),  # the titles of the reply's knowledge entries
    Column("rated_at", UTCDateTime(), nullable=False),
    Index("ix_message_ratings_tenant_rated", "tenant_id", "rated_at"),
)

# The visitor's rating of a whole conversation (asked when it closes): one per session, a new one replaces it.
session_ratings = Table(
    "session_ratings",
    metadata,
    Column("tenant_id", String(36), ForeignKey("tenants.id"), primary_key=True),
    Column("session_id", String(64), primary_key=True),
    Column("stars", Integer, nullable=False),
    Column("comment", Text, nullable=True),
    Column("rated_at", UTCDateTime(), nullable=False),
    Index("ix_session_ratings_tenant_rated", "tenant_id", "rated_at"),
)

# What is known about the visitor of a session (migration 0021): the page they are on, the pages of the current
# visit, first seen, how many visits (a new one after 30 minutes without activity), the widget's and browser's
# languages and time zone. Written in batches off the chat's path (``hub.chat.visits``); a table of its own,
# so the session row the message writer updates stays small.
visitor_contexts = Table(
    "visitor_contexts",
    metadata,
    Column("tenant_id", String(36), ForeignKey("tenants.id"), primary_key=True),
    Column("session_id", String(64), primary_key=True),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=True),  # the newest activity reported
    Column("visits", Integer, nullable=False),
    Column("visit_started_at", UTCDateTime(), nullable=True),
    Column("page", JSON, nullable=True),  # {url, title, at}: the page the visitor is on now
    Column("pages", JSON, nullable=False),  # the current visit's pages, oldest first, the last few
    Column("widget_language", String(35), nullable=True),
    Column("browser_language", String(35), nullable=True),
    Column("time_zone", String(64), nullable=True),
    Column("version", Integer, nullable=False),  # grows with every write: dashboards keep the newest
    Index("ix_visitor_contexts_last_seen", "last_seen_at"),  # the retention sweeper's oldest first (0024)
)

# Staff's private notes beside a conversation (migration 0018): never part of the transcript (``messages``), so
# no visitor, AI or webhook reads them. ``after_seq``: the session's newest message when it was written (where
# it sits in the transcript); ``mentions``: the people it alerted, ``[{"id", "name"}]``. The full-text index over
# notes and messages is per backend, as knowledge's is (an FTS5 table, or GIN expression indexes).
notes = Table(
    "notes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("session_id", String(64), nullable=False),
    Column("author_id", String(36), nullable=False),
    Column("author_name", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("mentions", JSON, nullable=False),
    Column("after_seq", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_notes_session", "tenant_id", "session_id", "created_at"),
)

# Each person a note mentions (migration 0022): their Mentions inbox in Mission Control, read or not. The
# author is never in it (nobody is alerted of their own note). Listed by person, newest first; the partial
# index keeps the unread count to the unread rows.
mentions = Table(
    "mentions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("note_id", String(36), ForeignKey("notes.id"), nullable=False),
    Column("session_id", String(64), nullable=False),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False),  # the person mentioned
    Column("author_id", String(36), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("read_at", UTCDateTime(), nullable=True),
    UniqueConstraint("note_id", "user_id", name="uq_mentions_note_user"),
    Index("ix_mentions_inbox", "tenant_id", "user_id", "created_at"),
    Index(
        "ix_mentions_unread",
        "tenant_id",
        "user_id",
        postgresql_where=text("read_at IS NULL"),
        sqlite_where=text("read_at IS NULL"),
    ),
)
