"""Plain records the store hands out; no ORM objects leave the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ROLES = ("visitor", "ai", "agent", "system")


@dataclass(frozen=True)
class Tenant:
    id: str
    business_id: str
    name: str
    origins: tuple[str, ...]
    config: dict[str, Any]
    disabled: bool = False


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
    extra: dict[str, Any] = field(default_factory=dict)
