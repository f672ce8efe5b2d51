"""The data of the webhook events about a team's work on a conversation: who is assigned it, which labels it
carries. Written once here as Structs; README's Webhooks section documents them beside the other events.

A transfer's note is not in ``conversation.assigned``: it is for staff, and like a private note it never
leaves the hub in a webhook (the business's systems get the fact of the transfer, not what a colleague wrote).
"""

from __future__ import annotations

from msgspec import Struct

from hub.protocol import Label, Owner
from hub.store.assignment import Assignment, Kind


class ConversationAssigned(Struct, kw_only=True):
    """``conversation.assigned``: every change of a conversation's assignee, whoever or whatever made it."""

    session_id: str
    kind: Kind
    assignee: Owner | None  # None: unassigned
    previous: Owner | None  # who it was assigned to before; None: nobody
    by: Owner | None  # None: the hub (round-robin)
    at: str


class ConversationLabelsChanged(Struct, kw_only=True):
    """``conversation.labels_changed``: a label was put on a conversation (``applied``) or taken off."""

    session_id: str
    label: Label
    applied: bool
    labels: list[Label]  # what it carries now, by name
    by: Owner
    at: str


def _person(person: tuple[str, str] | None) -> Owner | None:
    return Owner(*person) if person is not None else None


def assigned(change: Assignment) -> ConversationAssigned:
    return ConversationAssigned(
        session_id=change.session_id,
        kind=change.kind,
        assignee=_person(change.assignee),
        previous=_person(change.previous),
        by=_person(change.by),
        at=change.at.isoformat(),
    )
