"""A tenant's canned replies: ready answers agents insert in Mission Control. Every query names the tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.errors import Conflict
from hub.store.tables import canned_replies

TITLE_CHARS = 80
TEXT_CHARS = 2000
MAX_PER_TENANT = 200


@dataclass(frozen=True)
class CannedReply:
    id: str
    title: str
    text: str
    created_at: datetime
    updated_at: datetime


class TooManyCannedReplies(Conflict):
    code = "too_many_canned_replies"


def _of(row: object) -> CannedReply:
    return CannedReply(row.id, row.title, row.text, row.created_at, row.updated_at)  # type: ignore[attr-defined]


async def list_canned(engine: AsyncEngine, tenant_id: str) -> list[CannedReply]:
    query = select(canned_replies).where(canned_replies.c.tenant_id == tenant_id).order_by(canned_replies.c.title)
    async with engine.connect() as connection:
        return [_of(row) for row in (await connection.execute(query)).all()]


async def create_canned(engine: AsyncEngine, tenant_id: str, title: str, text: str) -> CannedReply:
    now = datetime.now(UTC)
    reply = CannedReply(str(uuid.uuid4()), title, text, now, now)
    async with engine.begin() as connection:
        count = select(func.count()).select_from(canned_replies).where(canned_replies.c.tenant_id == tenant_id)
        if int(await connection.scalar(count) or 0) >= MAX_PER_TENANT:
            raise TooManyCannedReplies(f"a tenant has at most {MAX_PER_TENANT} canned replies; delete one first")
        await connection.execute(
            canned_replies.insert().values(
                id=reply.id, tenant_id=tenant_id, title=title, text=text, created_at=now, updated_at=now
            )
        )
    return reply


async def update_canned(
    engine: AsyncEngine, tenant_id: str, reply_id: str, values: dict[str, str]
) -> CannedReply | None:
    where = (canned_replies.c.tenant_id == tenant_id, canned_replies.c.id == reply_id)
    async with engine.begin() as connection:
        if values:
            await connection.execute(
                update(canned_replies).where(*where).values(**values, updated_at=datetime.now(UTC))
            )
        row = (await connection.execute(select(canned_replies).where(*where))).first()
    return _of(row) if row is not None else None


async def delete_canned(engine: AsyncEngine, tenant_id: str, reply_id: str) -> bool:
    query = delete(canned_replies).where(canned_replies.c.tenant_id == tenant_id, canned_replies.c.id == reply_id)
    async with engine.begin() as connection:
        return bool((await connection.execute(query)).rowcount)
