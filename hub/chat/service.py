"""Durable changes to a conversation: committed (with their webhook events) first, then fanned out.

Every stored message also patches the session's row in agents' dashboards (the tenant channel), so
Mission Control's list stays live without anyone subscribing to every session. A change of mode,
status or owner goes the same way: one transaction with its event, then the patch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from msgspec import UNSET, Struct
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.chat.publisher import Publisher
from hub.errors import StoreUnavailable
from hub.protocol import Owner, SessionChange, encode, message_frame, preview
from hub.store.models import StoredMessage
from hub.store.sessions import UNCHANGED, HandoffEnd, set_control
from hub.store.transcript import messages_after
from hub.store.webhooks import OutboxRow
from hub.store.writer import Events, MessageWriter, WriteResult
from hub.webhooks.events import assigned

logger = logging.getLogger(__name__)

OnlineHere = Callable[[str, str], bool]


class EventOutbox(Protocol):
    """Which webhook deliveries a change makes (``hub.webhooks.outbox.Webhooks``)."""

    async def for_message(self, tenant_id: str, role: str) -> Events | None: ...

    async def rows(self, tenant_id: str, event_type: str, data: dict[str, Any]) -> list[OutboxRow]: ...

    async def maker(self, tenant_id: str, event_type: str) -> Callable[[Struct], list[OutboxRow]] | None: ...

    def wake(self) -> None: ...


class ChatService:
    def __init__(
        self,
        engine: AsyncEngine,
        writer: MessageWriter,
        publisher: Publisher,
        events: EventOutbox,
        online_here: OnlineHere,
    ) -> None:
        self.engine = engine
        self.writer = writer
        self.publisher = publisher
        self.events = events
        self.online_here = online_here

    async def post(
        self,
        tenant_id: str,
        session_id: str,
        role: str,
        text: str,
        *,
        client_id: str | None = None,
        meta: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> WriteResult:
        try:
            events = await self.events.for_message(tenant_id, role)
        except Exception as exc:  # without knowing its events, the message is not stored at all
            logger.warning("reading the webhook endpoints of tenant %s failed: %s", tenant_id, exc)
            raise StoreUnavailable("the message was not stored; retry with the same client_id") from exc
        result = await self.writer.append(
            tenant_id, session_id, role, text, client_id=client_id, meta=meta, message_id=message_id, events=events
        )
        message = result.message
        if not message.duplicate:
            self.publisher.session(tenant_id, session_id, message.seq, encode(message_frame(message)))
            change = SessionChange(
                id=session_id,
                seq=message.seq,
                updated_at=message.created_at.isoformat(),
                last_message=preview(message),
                mode=result.mode,  # type: ignore[arg-type]  # the store holds only the protocol's values
                status=result.status,  # type: ignore[arg-type]
            )
            if message.seq == 1:
                change.created_at = message.created_at.isoformat()
                change.owner = None
                change.visitor_online = self.online_here(tenant_id, session_id)
            self.publisher.announce(tenant_id, change)
            if events is not None:
                self.events.wake()
        return result

    async def change(
        self,
        tenant_id: str,
        session_id: str,
        change: SessionChange,
        event: tuple[str, dict[str, Any]] | None = None,
        *,
        ended: HandoffEnd | None = None,
        assign_to: Owner | None = None,
    ) -> None:
        """Set mode, status and/or owner as ``change`` says, with its webhook event, then patch the dashboards.

        ``ended``: the session also stops waiting for a person (``change.waiting`` is then None).
        ``assign_to``: assign the session to this staff member if nobody is assigned yet (a takeover).
        """
        rows = await self.events.rows(tenant_id, *event) if event is not None else []
        assigned_rows = await self.events.maker(tenant_id, "conversation.assigned") if assign_to else None
        owner = change.owner
        controlled = await set_control(
            self.engine,
            tenant_id,
            session_id,
            mode=None if change.mode is UNSET else change.mode,
            status=None if change.status is UNSET else change.status,
            owner=UNCHANGED if owner is UNSET else (owner.id, owner.name) if isinstance(owner, Owner) else None,
            ended=ended,
            events=rows,
            assign_to=(assign_to.id, assign_to.name) if assign_to is not None else None,
            assigned_events=(lambda kept: assigned_rows(assigned(kept))) if assigned_rows is not None else None,
        )
        if controlled.assigned and assign_to is not None:
            change.assignee, change.transfer = assign_to, None
        self.publisher.announce(tenant_id, change)
        if rows or (assigned_rows is not None and controlled.assigned):
            self.events.wake()

    async def history(self, tenant_id: str, session_id: str, after_seq: int = 0) -> list[StoredMessage]:
        return await messages_after(self.engine, tenant_id, session_id, after_seq)
