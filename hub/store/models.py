"""Plain records the store hands out; no ORM objects leave the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_SEQ = 2**31 - 1  # seq and last_seq are INTEGER columns: PostgreSQL refuses a larger number even in a WHERE


# The platform's own tenant: its admins act on every tenant, and its site quotes the platform's plans.
PLATFORM_BUSINESS_ID = "office16852-platform"


@dataclass(frozen=True)
class Tenant:
    id: str
    business_id: str
    name: str
    origins: tuple[str, ...]
    config: dict[str, Any]
    disabled: bool = False
    plan: str = "starter"

    @property
    def is_platform(self) -> bool:
        return self.business_id == PLATFORM_BUSINESS_ID


@dataclass(frozen=True)
class StoredMessage:
    id: str
    tenant_id: str
    session_id: str
    seq: int
    role: str
    text: str
    client_id: str | None
    created_at: datetime
    meta: dict[str, Any] | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class Waiting:
    """A session waiting for a person: since when, why (visitor | ai | credits), and in whose words."""

    since: datetime
    reason: str
    note: str | None = None


@dataclass(frozen=True)
class SessionState:
    tenant_id: str
    id: str
    last_seq: int
    mode: str
    status: str
    owner_id: str | None = None
    owner_name: str | None = None
    waiting: Waiting | None = None
    assignee_id: str | None = None
    transferred: bool = False  # its assignee got it by a transfer (its note is on the session)


@dataclass(frozen=True)
class Transfer:
    """The staff-only note a conversation was last transferred with: by whom, when, what it says."""

    by_id: str
    by_name: str
    note: str
    at: datetime


@dataclass(frozen=True)
class SessionSummary:
    """A row of Mission Control's session list."""

    id: str
    status: str
    mode: str
    owner_id: str | None
    owner_name: str | None
    seq: int
    created_at: datetime
    updated_at: datetime
    last_message: StoredMessage | None
    waiting: Waiting | None = None
    assignee_id: str | None = None
    assignee_name: str | None = None
    labels: tuple[str, ...] = ()  # the ids of the tenant's labels it carries
    transfer: Transfer | None = None
