"""Who is responsible for a conversation, and what it is about: assignment, transfer, round-robin, labels.

An assignment is stored first, kept in the conversation's history and committed with its
``conversation.assigned`` webhook deliveries (a label change with ``conversation.labels_changed``); then
every dashboard of the tenant gets a ``session`` patch (the tenant channel reaches agents' sockets only,
never a visitor's: a transfer's note is for staff, and no webhook carries it). A transfer hands the
conversation over, as Intercom and Chatwoot do: whoever held it lets go, and does not reply again before
taking it over. A takeover of an unassigned conversation assigns it to the taker (``hub.chat.control``).
With the tenant's ``round_robin`` setting on, a conversation that starts waiting for a person is assigned
to the staff member online with the fewest open conversations (then: whose last assignment is oldest);
with nobody online it stays unassigned, in the Waiting queue, for whoever takes it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.chat.control import Agent, parse_holder
from hub.chat.presence import Presence
from hub.chat.publisher import Publisher
from hub.coord.base import Coordinator
from hub.errors import SessionNotFound
from hub.keys import Keys
from hub.protocol import Label, Labels, Owner, SessionChange, transfer
from hub.store import labels as label_store
from hub.store.assignment import (
    Assignment,
    Events,
    StaffMember,
    assign,
    history,
    list_assignable,
    next_in_turn,
    staff_member,
)
from hub.store.labels import LabelChange
from hub.store.models import Tenant
from hub.store.webhooks import OutboxRow
from hub.tenant_settings import settings_of
from hub.webhooks.events import ConversationLabelsChanged, assigned
from hub.webhooks.outbox import Webhooks

logger = logging.getLogger(__name__)


class Assignments:
    def __init__(
        self,
        engine: AsyncEngine,
        publisher: Publisher,
        coord: Coordinator,
        keys: Keys,
        presence: Presence,
        tenants: Callable[[str], Awaitable[Tenant | None]],
        webhooks: Webhooks,
    ) -> None:
        self.engine = engine
        self.publisher = publisher
        self.coord = coord
        self.keys = keys
        self.presence = presence
        self.tenants = tenants
        self.webhooks = webhooks

    async def assign(self, tenant_id: str, session_id: str, agent_id: str | None, by: Agent) -> None:
        """Assign (or reassign) the session to a staff member of the tenant; ``None`` unassigns it."""
        target = await staff_member(self.engine, tenant_id, agent_id) if agent_id is not None else None
        done = await assign(
            self.engine,
            tenant_id,
            session_id,
            target,
            kind="assign",
            by=(by.id, by.name),
            events=await self._events(tenant_id),
        )
        if done.changed:
            self._announce(tenant_id, session_id, target)
            self.webhooks.wake()

    async def transfer(self, tenant_id: str, session_id: str, agent_id: str, note: str, by: Agent) -> None:
        """Hand the session to another staff member with a note for staff. Whoever holds it (human mode) but the
        new assignee lets go of it, the sender or a colleague: the AI stays quiet, the new assignee takes over,
        and the one who held it no longer answers (their Mission Control hears it from the patch)."""
        target = await staff_member(self.engine, tenant_id, agent_id)
        done = await assign(
            self.engine,
            tenant_id,
            session_id,
            target,
            kind="transfer",
            by=(by.id, by.name),
            note=note.strip(),
            events=await self._events(tenant_id),
        )
        change = SessionChange(id=session_id, assignee=Owner(target.id, target.name), transfer=transfer(done.transfer))
        if done.released_owner is not None:
            await self._let_go(tenant_id, session_id, done.released_owner)
            change.owner = None  # every node stops renewing the claim of the person who held it
        self.publisher.announce(tenant_id, change)
        self.webhooks.wake()

    async def round_robin(self, tenant_id: str, session_id: str) -> StaffMember | None:
        """A session started waiting for a person: with the tenant's round-robin on, assign it to whose turn it
        is among the staff online. Nobody online (or round-robin off): it stays as it is."""
        tenant = await self.tenants(tenant_id)
        if tenant is None or not settings_of(tenant).round_robin:
            return None
        chosen = await next_in_turn(self.engine, tenant_id, await self.presence.agents(tenant_id))
        if chosen is None:
            return None
        events = await self._events(tenant_id)
        done = await assign(
            self.engine, tenant_id, session_id, chosen, kind="round_robin", only_if_unassigned=True, events=events
        )
        if not done.changed:
            return None
        self._announce(tenant_id, session_id, chosen)
        self.webhooks.wake()
        return chosen

    async def label(self, tenant_id: str, session_id: str, label_id: str, applied: bool, by: Agent) -> None:
        """Put a label on the session or take it off; a change (not a repeat) is a ``conversation.labels_changed``
        webhook event, committed with it."""
        rows = await self.webhooks.maker(tenant_id, "conversation.labels_changed")

        def events(change: LabelChange) -> list[OutboxRow]:
            if rows is None:
                return []
            data = ConversationLabelsChanged(
                session_id=session_id,
                label=_label(change.label),
                applied=applied,
                labels=[_label(label) for label in change.carried],
                by=Owner(by.id, by.name),
                at=change.at.isoformat(),
            )
            return rows(data)

        carried = await label_store.set_session_label(self.engine, tenant_id, session_id, label_id, applied, events)
        self.publisher.announce(tenant_id, SessionChange(id=session_id, labels=list(carried)))
        if rows is not None:
            self.webhooks.wake()

    async def history(self, tenant_id: str, session_id: str) -> list[Assignment]:
        """The conversation's assignments, oldest first (``SessionNotFound`` for another tenant's)."""
        found = await history(self.engine, tenant_id, session_id)
        if found is None:
            raise SessionNotFound("no such session in this tenant")
        return found

    async def labels(self, tenant_id: str) -> list[Label]:
        return [
            Label(label.id, label.name, label.color) for label in await label_store.list_labels(self.engine, tenant_id)
        ]

    async def labels_changed(self, tenant_id: str) -> None:
        """The tenant's labels were added, changed or deleted: every dashboard gets the whole set again."""
        self.publisher.labels(tenant_id, Labels(labels=await self.labels(tenant_id)))

    async def staff(self, tenant_id: str) -> list[tuple[StaffMember, int, bool]]:
        """Who may be assigned: the tenant's active staff, with their open conversations and whether online."""
        online = await self.presence.agents(tenant_id)
        return [(member, count, member.id in online) for member, count in await list_assignable(self.engine, tenant_id)]

    async def _events(self, tenant_id: str) -> Events | None:
        """The ``conversation.assigned`` deliveries of an assignment, made in its transaction (None: nobody
        listens)."""
        rows = await self.webhooks.maker(tenant_id, "conversation.assigned")
        return (lambda change: rows(assigned(change))) if rows is not None else None

    def _announce(self, tenant_id: str, session_id: str, target: StaffMember | None) -> None:
        assignee = Owner(target.id, target.name) if target is not None else None
        self.publisher.announce(tenant_id, SessionChange(id=session_id, assignee=assignee, transfer=None))

    async def _let_go(self, tenant_id: str, session_id: str, holder_id: str) -> None:
        key = self.keys.takeover_lock(tenant_id, session_id)
        try:
            holder = await self.coord.holder(key)
            if holder is not None and parse_holder(holder)[0] == holder_id:
                await self.coord.release(key, holder)
        except Exception as exc:  # the claim lapses by itself once nobody renews it (the patch stops them)
            logger.warning("releasing the claim on session %s after a transfer failed: %s", session_id, exc)


def _label(label: label_store.Label) -> Label:
    return Label(label.id, label.name, label.color)
