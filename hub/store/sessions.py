"""Session control state (mode, owner, status) and Mission Control's session list."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.assignment import Events, assign_taker, transfer_of
from hub.store.labels import labels_of
from hub.store.models import SessionSummary, Waiting
from hub.store.tables import chat_sessions, handoffs, messages, session_labels, users, webhook_deliveries
from hub.store.transcript import message_from_row, waiting_of
from hub.store.webhooks import OutboxRow

LIST_LIMIT = 200
CLOSED_VISIBLE = timedelta(hours=24)
UNCHANGED: Any = object()  # set_control: leave the owner as it is


@dataclass(frozen=True)
class Controlled:
    found: bool
    assigned: bool = False  # the session was assigned to the ``assign_to`` of ``set_control``


@dataclass(frozen=True)
class HandoffEnd:
    """How a wait for a person ended: ``taken`` (by the agent ``taken_by``) or ``missed`` (closed first)."""

    outcome: str
    taken_by: str | None = None


async def set_control(
    engine: AsyncEngine,
    tenant_id: str,
    session_id: str,
    *,
    mode: str | None = None,
    status: str | None = None,
    owner: tuple[str, str] | None = UNCHANGED,
    ended: HandoffEnd | None = None,
    events: list[OutboxRow] | None = None,
    assign_to: tuple[str, str] | None = None,
    assigned_events: Events | None = None,
) -> Controlled:
    """Change a session's mode, status and/or owner (``found`` False when the tenant has no such session).

    ``ended``: the session stops waiting for a person, and its open handoff is recorded as ended so.
    ``events``: the webhook deliveries reporting the change, committed with it (and only with it).
    ``assign_to``: a staff member (id, name) the session is assigned to if it is assigned to nobody (a
    takeover), with the webhook deliveries ``assigned_events`` makes of that assignment.
    """
    now = datetime.now(UTC)
    values: dict[str, Any] = {"updated_at": now}
    if mode is not None:
        values["mode"] = mode
    if status is not None:
        values["status"] = status
    if owner is not UNCHANGED:
        values["owner_id"], values["owner_name"] = owner if owner is not None else (None, None)
    if ended is not None:
        values.update(waiting_since=None, waiting_reason=None, waiting_note=None)
    statement = (
        update(chat_sessions)
        .where(chat_sessions.c.tenant_id == tenant_id, chat_sessions.c.id == session_id)
        .values(**values)
    )
    async with engine.begin() as connection:
        result = await connection.execute(statement)
        if result.rowcount and ended is not None:
            await connection.execute(
                update(handoffs)
                .where(handoffs.c.tenant_id == tenant_id, handoffs.c.session_id == session_id)
                .where(handoffs.c.ended_at.is_(None))
                .values(ended_at=now, outcome=ended.outcome, taken_by=ended.taken_by)
            )
        if result.rowcount and events:
            await connection.execute(webhook_deliveries.insert(), events)
        assigned = bool(
            result.rowcount
            and assign_to
            and await assign_taker(connection, tenant_id, session_id, assign_to, assigned_events)
        )
    return Controlled(bool(result.rowcount), assigned)


async def start_waiting(
    engine: AsyncEngine,
    tenant_id: str,
    session_id: str,
    waiting: Waiting,
    events: list[OutboxRow],
    *,
    outside_hours: bool | None = None,
    escalate_at: datetime | None = None,
) -> bool:
    """The session waits for a person from now; False when it already waits, an agent owns it already, or
    it is no session of the tenant.

    The handoff is recorded and its webhook deliveries written in the same transaction, only if it starts.
    ``escalate_at``: when a wait still going then alerts the team again (``hub.push.alerts``).
    """
    statement = (
        update(chat_sessions)
        .where(chat_sessions.c.tenant_id == tenant_id, chat_sessions.c.id == session_id)
        .where(chat_sessions.c.waiting_since.is_(None), chat_sessions.c.owner_id.is_(None))  # no agent on it yet
        .values(
            waiting_since=waiting.since,
            waiting_reason=waiting.reason,
            waiting_note=waiting.note,
            updated_at=waiting.since,
        )
    )
    async with engine.begin() as connection:
        result = await connection.execute(statement)
        if not result.rowcount:
            return False
        await connection.execute(
            handoffs.insert().values(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                session_id=session_id,
                reason=waiting.reason,
                note=waiting.note,
                requested_at=waiting.since,
                outside_hours=outside_hours,
                escalate_at=escalate_at,
            )
        )
        if events:
            await connection.execute(webhook_deliveries.insert(), events)
    return True


async def owned_sessions(engine: AsyncEngine, tenant_id: str, owner_id: str) -> list[str]:
    """Open human-mode sessions an agent owns, so a reconnecting agent keeps its claims."""
    query = select(chat_sessions.c.id).where(
        chat_sessions.c.tenant_id == tenant_id,
        chat_sessions.c.owner_id == owner_id,
        chat_sessions.c.mode == "human",
        chat_sessions.c.status == "open",
    )
    async with engine.connect() as connection:
        return list((await connection.execute(query)).scalars())


@dataclass(frozen=True)
class SessionFilter:
    """Which sessions a list holds (every field None: all of them). ``assignee_id`` "" means assigned to nobody."""

    assignee_id: str | None = None
    status: str | None = None
    mode: str | None = None
    label_id: str | None = None


async def list_sessions(
    engine: AsyncEngine,
    tenant_id: str,
    *,
    session_id: str | None = None,
    limit: int = LIST_LIMIT,
    where: SessionFilter | None = None,
) -> list[SessionSummary]:
    """Open sessions and those closed in the last day, newest activity first, each with its last message, its
    assignee's name and its labels."""
    last = messages.alias("last")
    assignee = users.alias("assignee")
    query = (
        select(
            chat_sessions,
            assignee.c.name.label("assignee_name"),
            *(column.label(f"m_{column.name}") for column in last.c),
        )
        .select_from(
            chat_sessions.outerjoin(
                last,
                and_(
                    last.c.tenant_id == chat_sessions.c.tenant_id,
                    last.c.session_id == chat_sessions.c.id,
                    last.c.seq == chat_sessions.c.last_seq,
                ),
            ).outerjoin(
                assignee,
                and_(assignee.c.tenant_id == chat_sessions.c.tenant_id, assignee.c.id == chat_sessions.c.assignee_id),
            )
        )
        .where(chat_sessions.c.tenant_id == tenant_id)
        .order_by(chat_sessions.c.updated_at.desc())
        .limit(limit)
    )
    if session_id is not None:
        query = query.where(chat_sessions.c.id == session_id)
    else:
        since = datetime.now(UTC) - CLOSED_VISIBLE
        query = query.where(or_(chat_sessions.c.status == "open", chat_sessions.c.updated_at >= since))
    if where is not None:
        query = _filtered(query, tenant_id, where)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
        carried = await labels_of(connection, tenant_id, [row.id for row in rows])
    return [_summary(row, carried.get(row.id, ())) for row in rows]


def _filtered(query: Any, tenant_id: str, where: SessionFilter) -> Any:
    if where.assignee_id == "":
        query = query.where(chat_sessions.c.assignee_id.is_(None))
    elif where.assignee_id is not None:
        query = query.where(chat_sessions.c.assignee_id == where.assignee_id)
    if where.status is not None:
        query = query.where(chat_sessions.c.status == where.status)
    if where.mode is not None:
        query = query.where(chat_sessions.c.mode == where.mode)
    if where.label_id is not None:
        carries = select(session_labels.c.session_id).where(
            session_labels.c.tenant_id == tenant_id,
            session_labels.c.session_id == chat_sessions.c.id,
            session_labels.c.label_id == where.label_id,
        )
        query = query.where(exists(carries))
    return query


async def session_summary(engine: AsyncEngine, tenant_id: str, session_id: str) -> SessionSummary | None:
    found = await list_sessions(engine, tenant_id, session_id=session_id, limit=1)
    return found[0] if found else None


def _summary(row: Any, labels: tuple[str, ...] = ()) -> SessionSummary:
    last_message = None
    if row.m_id is not None:
        last_message = message_from_row(
            _Prefixed(row, "m_"),
        )
    return SessionSummary(
        id=row.id,
        status=row.status,
        mode=row.mode,
        owner_id=row.owner_id,
        owner_name=row.owner_name,
        seq=row.last_seq,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_message=last_message,
        waiting=waiting_of(row),
        assignee_id=row.assignee_id,
        assignee_name=row.assignee_name if row.assignee_id is not None else None,
        labels=labels,
        transfer=transfer_of(row.transfer) if row.assignee_id is not None else None,
    )


class _Prefixed:
    """The joined message's columns, read back under their own names."""

    def __init__(self, row: Any, prefix: str) -> None:
        self._row = row
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, self._prefix + name)


async def count_waiting(engine: AsyncEngine) -> int:
    """Conversations waiting for a person now, over all tenants (for ``hub_handoffs_waiting``, read per scrape)."""
    async with engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(chat_sessions).where(chat_sessions.c.waiting_since.is_not(None))
        )
    return int(count or 0)
