"""Who is responsible for a conversation: its assignee, each assignment kept, and whose turn it is next.

Every statement names the tenant. The assignee is a staff account of the tenant; the names shown are
read from ``users`` when a list is read, so a renamed person shows under their new name.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.errors import AgentNotFound, AlreadyAssigned, NotAssignable, SessionNotFound
from hub.store.models import Transfer
from hub.store.tables import assignments, chat_sessions, users, webhook_deliveries
from hub.store.webhooks import OutboxRow

NOTE_CHARS = 500
# What a person does: assign, transfer (with a note), unassign; what the hub does: round_robin, takeover (taking
# over a conversation assigned to nobody assigns it to the taker). A kept ``assign`` that replaced someone is a
# ``reassign``, one to nobody an ``unassign``.
Kind = Literal["assign", "reassign", "transfer", "takeover", "round_robin", "unassign"]
KINDS: tuple[Kind, ...] = get_args(Kind)
HISTORY_LIMIT = 100  # a conversation's history shows its newest assignments; nobody reads further back


@dataclass(frozen=True)
class StaffMember:
    id: str
    name: str
    role: str


@dataclass(frozen=True)
class Assignment:
    """One assignment as kept: a line of the conversation's history and the ``conversation.assigned`` webhook.
    People are (id, name); ``by`` None is the hub's round-robin; ``note`` is a transfer's, for staff only."""

    session_id: str
    kind: Kind
    assignee: tuple[str, str] | None
    previous: tuple[str, str] | None
    by: tuple[str, str] | None
    at: datetime
    note: str | None = None


# The webhook deliveries reporting an assignment, to insert in its transaction.
Events = Callable[[Assignment], list[OutboxRow]]


@dataclass(frozen=True)
class Assigned:
    """What an assignment changed: ``changed`` False when the conversation already had that assignee."""

    changed: bool
    transfer: Transfer | None = None
    released_owner: str | None = None  # whose hold a transfer ended (human mode): they no longer answer
    assignment: Assignment | None = None


async def staff_member(engine: AsyncEngine, tenant_id: str, user_id: str) -> StaffMember:
    """The tenant's staff member who may be assigned conversations; 404 for anyone outside the tenant,
    422 for the tenant's customer accounts and disabled staff."""
    query = select(users.c.id, users.c.name, users.c.role, users.c.kind, users.c.disabled).where(
        users.c.tenant_id == tenant_id, users.c.id == user_id
    )
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    if row is None:
        raise AgentNotFound("no staff member with that id in this tenant")
    if row.kind != "staff" or row.disabled:
        raise NotAssignable("only the tenant's active staff (agents, owners, admins) can be assigned conversations")
    return StaffMember(row.id, row.name, row.role)


async def list_assignable(engine: AsyncEngine, tenant_id: str) -> list[tuple[StaffMember, int]]:
    """The tenant's active staff by name, each with the number of open conversations assigned to them."""
    counts = (
        select(chat_sessions.c.assignee_id, func.count().label("open"))
        .where(chat_sessions.c.tenant_id == tenant_id, chat_sessions.c.status == "open")
        .where(chat_sessions.c.assignee_id.is_not(None))
        .group_by(chat_sessions.c.assignee_id)
        .subquery()
    )
    query = (
        select(users.c.id, users.c.name, users.c.role, func.coalesce(counts.c.open, 0).label("open"))
        .select_from(users.outerjoin(counts, counts.c.assignee_id == users.c.id))
        .where(users.c.tenant_id == tenant_id, users.c.kind == "staff", users.c.disabled.is_(False))
        .order_by(func.lower(users.c.name), users.c.id)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [(StaffMember(row.id, row.name, row.role), int(row.open)) for row in rows]


async def next_in_turn(engine: AsyncEngine, tenant_id: str, online: Iterable[str]) -> StaffMember | None:
    """Round-robin's pick among the staff online: the fewest open conversations assigned, then the one whose
    last assignment is oldest (never assigned: first), then by name. None when nobody is online."""
    ids = list(set(online))
    if not ids:
        return None
    async with engine.connect() as connection:
        staff = (
            await connection.execute(
                select(users.c.id, users.c.name, users.c.role).where(
                    users.c.tenant_id == tenant_id,
                    users.c.id.in_(ids),
                    users.c.kind == "staff",
                    users.c.disabled.is_(False),
                )
            )
        ).all()
        if not staff:
            return None
        present = [row.id for row in staff]
        open_counts: dict[str, int] = dict(
            (
                await connection.execute(
                    select(chat_sessions.c.assignee_id, func.count())
                    .where(chat_sessions.c.tenant_id == tenant_id, chat_sessions.c.status == "open")
                    .where(chat_sessions.c.assignee_id.in_(present))
                    .group_by(chat_sessions.c.assignee_id)
                )
            ).all()
        )
        last: dict[str, datetime] = dict(
            (
                await connection.execute(
                    select(assignments.c.assignee_id, func.max(assignments.c.created_at))
                    .where(assignments.c.tenant_id == tenant_id, assignments.c.assignee_id.in_(present))
                    .group_by(assignments.c.assignee_id)
                )
            ).all()
        )
    never = datetime.min.replace(tzinfo=UTC)

    def turn(row: Any) -> tuple[int, datetime, str, str]:
        at = last.get(row.id)
        if at is not None and at.tzinfo is None:  # SQLite hands an aggregate back without its zone
            at = at.replace(tzinfo=UTC)
        return (int(open_counts.get(row.id, 0)), at or never, row.name.lower(), row.id)

    chosen = min(staff, key=turn)
    return StaffMember(chosen.id, chosen.name, chosen.role)


async def assign(
    engine: AsyncEngine,
    tenant_id: str,
    session_id: str,
    assignee: StaffMember | None,
    *,
    kind: Kind,
    by: tuple[str, str] | None = None,
    note: str | None = None,
    only_if_unassigned: bool = False,
    events: Events | None = None,
) -> Assigned:
    """Make ``assignee`` (None: nobody) responsible for the conversation, and keep the assignment.

    ``by``: who did it (id, name; None: the hub's round-robin). ``kind`` ``transfer`` keeps ``note`` on the
    conversation for staff and refuses the current assignee (409); it hands the conversation over: whoever
    holds it (human mode), the sender or anyone else but the new assignee, lets go of it, and it stays with
    people, unowned, for the new assignee to take. ``only_if_unassigned``: leave a conversation someone was
    assigned meanwhile as it is (changed False). ``events``: the webhook deliveries of the assignment,
    committed with it.
    """
    assert kind in KINDS
    now = datetime.now(UTC)
    where = (chat_sessions.c.tenant_id == tenant_id, chat_sessions.c.id == session_id)
    async with engine.begin() as connection:
        query = select(
            chat_sessions.c.assignee_id, chat_sessions.c.owner_id, chat_sessions.c.mode, chat_sessions.c.status
        ).where(*where)
        if connection.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await connection.execute(query)).first()
        if row is None:
            raise SessionNotFound("no such session in this tenant")
        new_id = assignee.id if assignee is not None else None
        if only_if_unassigned and row.assignee_id is not None:
            return Assigned(changed=False)
        if kind == "transfer" and row.assignee_id == new_id:
            raise AlreadyAssigned("the conversation is already assigned to them")
        if kind != "transfer" and row.assignee_id == new_id:
            return Assigned(changed=False)
        transfer = None
        values: dict[str, Any] = {"assignee_id": new_id, "assigned_at": now if new_id else None, "transfer": None}
        if kind == "transfer" and by is not None and note:
            transfer = Transfer(by[0], by[1], note, now)
            values["transfer"] = {"by": {"id": by[0], "name": by[1]}, "note": note, "at": now.isoformat()}
        released = (
            row.owner_id if kind == "transfer" and row.mode == "human" and row.owner_id not in (None, new_id) else None
        )
        if released is not None:
            values.update(owner_id=None, owner_name=None)
        await connection.execute(update(chat_sessions).where(*where).values(**values))
        previous = None
        if row.assignee_id is not None:
            previous = (row.assignee_id, await _name(connection, tenant_id, row.assignee_id))
        if new_id is None:
            kind = "unassign"
        elif kind == "assign" and previous is not None:
            kind = "reassign"
        target = (assignee.id, assignee.name) if assignee is not None else None
        change = Assignment(session_id, kind, target, previous, by, now, note if kind == "transfer" else None)
        await _keep(connection, tenant_id, change, events)
    return Assigned(changed=True, transfer=transfer, released_owner=released, assignment=change)


async def assign_taker(
    connection: AsyncConnection, tenant_id: str, session_id: str, taker: tuple[str, str], events: Events | None = None
) -> bool:
    """A takeover of an unassigned conversation assigns it to the taker (id, name), on the takeover's own
    connection, with the webhook deliveries ``events`` makes of it."""
    now = datetime.now(UTC)
    result = await connection.execute(
        update(chat_sessions)
        .where(chat_sessions.c.tenant_id == tenant_id, chat_sessions.c.id == session_id)
        .where(chat_sessions.c.assignee_id.is_(None))
        .values(assignee_id=taker[0], assigned_at=now, transfer=None)
    )
    if result.rowcount:
        await _keep(connection, tenant_id, Assignment(session_id, "takeover", taker, None, taker, now), events)
    return bool(result.rowcount)


async def _name(connection: AsyncConnection, tenant_id: str, user_id: str) -> str:
    query = select(users.c.name).where(users.c.tenant_id == tenant_id, users.c.id == user_id)
    return str(await connection.scalar(query) or "")


async def _keep(connection: AsyncConnection, tenant_id: str, change: Assignment, events: Events | None) -> None:
    await connection.execute(
        assignments.insert().values(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            session_id=change.session_id,
            assignee_id=change.assignee[0] if change.assignee else None,
            previous_id=change.previous[0] if change.previous else None,
            by_id=change.by[0] if change.by else None,
            kind=change.kind,
            note=change.note,
            created_at=change.at,
        )
    )
    rows = events(change) if events is not None else []
    if rows:
        await connection.execute(webhook_deliveries.insert(), rows)


async def history(engine: AsyncEngine, tenant_id: str, session_id: str) -> list[Assignment] | None:
    """The conversation's last ``HISTORY_LIMIT`` assignments, oldest first, everyone named as they are called
    now; None when the tenant has no such conversation."""
    assignee, previous, by = users.alias("assignee"), users.alias("previous"), users.alias("by_user")

    def person(alias: Any, column: Any) -> Any:
        return alias, and_(alias.c.tenant_id == assignments.c.tenant_id, alias.c.id == column)

    joined: Any = assignments
    for alias, on in (
        person(assignee, assignments.c.assignee_id),
        person(previous, assignments.c.previous_id),
        person(by, assignments.c.by_id),
    ):
        joined = joined.outerjoin(alias, on)
    query = (
        select(
            assignments,
            assignee.c.name.label("assignee_name"),
            previous.c.name.label("previous_name"),
            by.c.name.label("by_name"),
        )
        .select_from(joined)
        .where(assignments.c.tenant_id == tenant_id, assignments.c.session_id == session_id)
        .order_by(assignments.c.created_at.desc(), assignments.c.id.desc())
        .limit(HISTORY_LIMIT)
    )
    session = select(chat_sessions.c.id).where(chat_sessions.c.tenant_id == tenant_id, chat_sessions.c.id == session_id)
    async with engine.connect() as connection:
        if await connection.scalar(session) is None:
            return None
        rows = (await connection.execute(query)).all()

    def named(user_id: str | None, name: str | None) -> tuple[str, str] | None:
        return (user_id, name or "") if user_id is not None else None

    return [
        Assignment(
            session_id,
            row.kind,
            named(row.assignee_id, row.assignee_name),
            named(row.previous_id, row.previous_name),
            named(row.by_id, row.by_name),
            row.created_at,
            row.note,
        )
        for row in reversed(rows)
    ]


def transfer_of(stored: Any) -> Transfer | None:
    """The ``transfer`` column as a record (None when absent or not of the shape this hub writes)."""
    if not isinstance(stored, dict):
        return None
    by = stored.get("by")
    try:
        at = datetime.fromisoformat(str(stored["at"]))
        if not isinstance(by, dict):
            return None
        return Transfer(str(by["id"]), str(by.get("name") or ""), str(stored["note"]), at)
    except (KeyError, ValueError):
        return None
