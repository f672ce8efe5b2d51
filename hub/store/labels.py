"""A tenant's labels and which conversations carry them. Every query names the tenant.

Owners and admins define the labels (at most ``MAX_PER_TENANT``, names unique per tenant whatever their
case); agents put them on conversations (at most ``MAX_PER_SESSION`` each).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.errors import Conflict, LabelNotFound, SessionLabelLimit, SessionNotFound
from hub.store.tables import chat_sessions, labels, session_labels, webhook_deliveries
from hub.store.webhooks import OutboxRow

NAME_CHARS = 40
MAX_PER_TENANT = 50
MAX_PER_SESSION = 10
Color = Literal["gray", "blue", "green", "yellow", "orange", "red", "purple", "pink"]
COLORS: tuple[Color, ...] = ("gray", "blue", "green", "yellow", "orange", "red", "purple", "pink")


@dataclass(frozen=True)
class Label:
    id: str
    name: str
    color: str
    created_at: datetime
    updated_at: datetime


class TooManyLabels(Conflict):
    code = "too_many_labels"


class LabelExists(Conflict):
    code = "label_exists"


def _of(row: object) -> Label:
    return Label(row.id, row.name, row.color, row.created_at, row.updated_at)  # type: ignore[attr-defined]


async def list_labels(engine: AsyncEngine, tenant_id: str) -> list[Label]:
    query = select(labels).where(labels.c.tenant_id == tenant_id).order_by(func.lower(labels.c.name), labels.c.id)
    async with engine.connect() as connection:
        return [_of(row) for row in (await connection.execute(query)).all()]


async def _check_name_free(connection: AsyncConnection, tenant_id: str, name: str, except_id: str | None) -> None:
    query = select(labels.c.id).where(labels.c.tenant_id == tenant_id, func.lower(labels.c.name) == name.lower())
    if except_id is not None:
        query = query.where(labels.c.id != except_id)
    if await connection.scalar(query.limit(1)) is not None:
        raise LabelExists(f"a label named {name!r} already exists")


async def create_label(engine: AsyncEngine, tenant_id: str, name: str, color: str) -> Label:
    now = datetime.now(UTC)
    label = Label(str(uuid.uuid4()), name, color, now, now)
    async with engine.begin() as connection:
        count = select(func.count()).select_from(labels).where(labels.c.tenant_id == tenant_id)
        if int(await connection.scalar(count) or 0) >= MAX_PER_TENANT:
            raise TooManyLabels(f"a tenant has at most {MAX_PER_TENANT} labels; delete one first")
        await _check_name_free(connection, tenant_id, name, None)
        await connection.execute(
            labels.insert().values(
                id=label.id, tenant_id=tenant_id, name=name, color=color, created_at=now, updated_at=now
            )
        )
    return label


async def update_label(engine: AsyncEngine, tenant_id: str, label_id: str, values: dict[str, str]) -> Label | None:
    where = (labels.c.tenant_id == tenant_id, labels.c.id == label_id)
    async with engine.begin() as connection:
        if await connection.scalar(select(labels.c.id).where(*where)) is None:
            return None
        if "name" in values:
            await _check_name_free(connection, tenant_id, values["name"], label_id)
        if values:
            await connection.execute(update(labels).where(*where).values(**values, updated_at=datetime.now(UTC)))
        row = (await connection.execute(select(labels).where(*where))).first()
    return _of(row) if row is not None else None


async def delete_label(engine: AsyncEngine, tenant_id: str, label_id: str) -> bool:
    """The label goes, and with it from every conversation that carried it."""
    async with engine.begin() as connection:
        await connection.execute(
            delete(session_labels).where(session_labels.c.tenant_id == tenant_id, session_labels.c.label_id == label_id)
        )
        found = await connection.execute(delete(labels).where(labels.c.tenant_id == tenant_id, labels.c.id == label_id))
    return bool(found.rowcount)


@dataclass(frozen=True)
class LabelChange:
    """A label put on a conversation or taken off it: the label, the labels the conversation carries now (by
    name), and when."""

    label: Label
    carried: tuple[Label, ...]
    at: datetime


async def set_session_label(
    engine: AsyncEngine,
    tenant_id: str,
    session_id: str,
    label_id: str,
    applied: bool,
    events: Callable[[LabelChange], list[OutboxRow]] | None = None,
) -> tuple[str, ...]:
    """Put a label on a conversation (``applied``) or take it off; the conversation's labels afterwards.

    Both ways are idempotent: a repeat changes nothing and makes no ``events`` (the webhook deliveries of a
    change, committed with it). Raises when the session or the label is not the tenant's, or the
    conversation already carries ``MAX_PER_SESSION`` labels.
    """
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        session = select(chat_sessions.c.id).where(
            chat_sessions.c.tenant_id == tenant_id, chat_sessions.c.id == session_id
        )
        if await connection.scalar(session) is None:
            raise SessionNotFound("no such session in this tenant")
        label = (
            await connection.execute(select(labels).where(labels.c.tenant_id == tenant_id, labels.c.id == label_id))
        ).first()
        if label is None:
            raise LabelNotFound("no such label in this tenant")
        where = (
            session_labels.c.tenant_id == tenant_id,
            session_labels.c.session_id == session_id,
            session_labels.c.label_id == label_id,
        )
        current = (await labels_of(connection, tenant_id, [session_id])).get(session_id, ())
        changed = applied != (label_id in current)
        if changed and applied:
            if len(current) >= MAX_PER_SESSION:
                raise SessionLabelLimit(f"a conversation carries at most {MAX_PER_SESSION} labels; remove one first")
            insert = (pg_insert if connection.dialect.name == "postgresql" else sqlite_insert)(session_labels)
            row = {"tenant_id": tenant_id, "session_id": session_id, "label_id": label_id}
            await connection.execute(insert.values(**row, created_at=now).on_conflict_do_nothing())
        elif changed:
            await connection.execute(delete(session_labels).where(*where))
        carried = (await labels_of(connection, tenant_id, [session_id])).get(session_id, ())
        if changed and events is not None:
            named = select(labels).where(labels.c.tenant_id == tenant_id, labels.c.id.in_(carried))
            found = [_of(row) for row in (await connection.execute(named)).all()]
            found.sort(key=lambda one: carried.index(one.id))
            rows = events(LabelChange(_of(label), tuple(found), now))
            if rows:
                await connection.execute(webhook_deliveries.insert(), rows)
        return carried


async def labels_of(
    connection: AsyncConnection, tenant_id: str, session_ids: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """The label ids each of these conversations carries, by the labels' names."""
    ids = list(session_ids)
    if not ids:
        return {}
    query = (
        select(session_labels.c.session_id, session_labels.c.label_id)
        .join(labels, (labels.c.tenant_id == session_labels.c.tenant_id) & (labels.c.id == session_labels.c.label_id))
        .where(session_labels.c.tenant_id == tenant_id, session_labels.c.session_id.in_(ids))
        .order_by(func.lower(labels.c.name), labels.c.id)
    )
    found: defaultdict[str, list[str]] = defaultdict(list)
    for row in (await connection.execute(query)).all():
        found[row.session_id].append(row.label_id)
    return {session_id: tuple(label_ids) for session_id, label_ids in found.items()}
