"""Plain records the store hands out; no ORM objects leave the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MAX_SEQ = 2**31 - 1  # seq and last_seq are INTEGER columns: PostgreSQL refuses a larger number even in a WHERE


@dataclass(frozen=True)
class Tenant:
    id: str
    business_id: str
    name: str
    origins: tuple[str, ...]
    config: dict[str, Any]
    disabled: bool = False
    plan: str = "starter"


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

    def frame(self) -> dict[str, Any]:
        """The ``message`` frame every client gets for this durable message."""
        body: dict[str, Any] = {
            "type": "message",
            "seq": self.seq,
            "id": self.id,
            "role": self.role,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
        }
        if self.client_id is not None:
            body["client_id"] = self.client_id
        if self.meta:
            body.update({k: v for k, v in self.meta.items() if k in ("truncated", "author")})
        return body


@dataclass(frozen=True)
class SessionState:
    tenant_id: str
    id: str
    last_seq: int
    mode: str
    status: str
    owner_id: str | None = None
    owner_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


PREVIEW_CHARS = 200


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

    def to_json(self, visitor_online: bool) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "mode": self.mode,
            "owner": owner_json(self.owner_id, self.owner_name),
            "visitor_online": visitor_online,
            "seq": self.seq,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "last_message": None if self.last_message is None else preview_json(self.last_message),
        }


def owner_json(owner_id: str | None, owner_name: str | None) -> dict[str, str] | None:
    return None if owner_id is None else {"id": owner_id, "name": owner_name or ""}


def preview_json(message: StoredMessage) -> dict[str, Any]:
    return {
        "seq": message.seq,
        "role": message.role,
        "text": message.text[:PREVIEW_CHARS],
        "created_at": message.created_at.isoformat(),
    }
