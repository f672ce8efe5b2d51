"""A visitor who needs a person: a stored state, not a sentence.

Whatever asks for a person (the visitor's own control, the AI when it hears the request or decides it,
AI credits running out) records it the same way: the session waits (since when, why, in whose words),
the handoff is kept for analytics, and its webhook event commits with it; then every dashboard gets a
patch and the visitor a ``system`` message saying a person was asked to join. A session already waiting
is left as it is. The wait ends when an agent takes over (taken) or the session closes (missed).
Agents who turned on push alerts hear of it on their phones, and again when the wait outgrows the
tenant's limit (``hub.push.alerts``, woken from here, off this path).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from hub.chat.announcements import ASKED, say, session_language
from hub.chat.service import ChatService
from hub.protocol import HandoffReason, SessionChange, waiting
from hub.push.alerts import HandoffAlerts
from hub.store.models import Tenant, Waiting
from hub.store.sessions import start_waiting

logger = logging.getLogger(__name__)


async def _no_hours(tenant_id: str) -> bool | None:
    return None


class Handoffs:
    def __init__(
        self,
        chat: ChatService,
        outside_hours: Callable[[str], Awaitable[bool | None]] = _no_hours,
        alerts: HandoffAlerts | None = None,
        assign: Callable[[str, str], Awaitable[object]] | None = None,
    ) -> None:
        """``alerts``: pushes the team and escalates the wait (``hub.push.alerts``); it is woken, never waited for.
        ``assign``: round-robin (``hub.chat.assignment``), asked once a wait started; its failure fails nothing."""
        self.chat = chat
        self.outside_hours = outside_hours  # whether a request now is outside the tenant's office hours
        self.alerts = alerts
        self.assign = assign

    async def request(
        self,
        tenant: Tenant,
        session_id: str,
        reason: HandoffReason,
        note: str | None = None,
        *,
        tell: str = ASKED,
        name: str = "",
    ) -> bool:
        """Ask for a person; False when the session already waits for one. ``tell``: what the visitor reads (a
        text of ``hub.chat.announcements``, in their language; ``name`` fills its ``%(name)s``)."""
        tenant_id = tenant.id
        wait = Waiting(datetime.now(UTC), reason, (note or "").strip()[:200] or None)
        data = {"session_id": session_id, "reason": reason, "note": wait.note}
        rows = await self.chat.events.rows(tenant_id, "session.handoff_requested", data)
        outside = await self.outside_hours(tenant_id)
        escalate_at = await self.alerts.escalate_at(tenant_id, wait.since) if self.alerts is not None else None
        started = await start_waiting(
            self.chat.engine, tenant_id, session_id, wait, rows, outside_hours=outside, escalate_at=escalate_at
        )
        if not started:
            return False
        if self.alerts is not None:
            self.alerts.wake()
        self.chat.publisher.announce(tenant_id, SessionChange(id=session_id, waiting=waiting(wait)))
        if rows:
            self.chat.events.wake()
        meta = {"event": "handoff_requested", "reason": reason}
        language = await session_language(self.chat.engine, tenant, session_id)
        await self.chat.post(tenant_id, session_id, "system", say(language, tell, name=name), meta=meta)
        if self.assign is not None:
            try:
                await self.assign(tenant_id, session_id)
            except Exception:  # the visitor still waits, in the queue every agent sees
                logger.exception("round-robin assignment of session %s failed", session_id)
        return True
