"""Invitations to a tenant's team (migration 0020). Every query names the tenant, except the one that finds an
invitation by its link's token (the invitee has no tenant yet: the token is the key, and only its hash is kept).

An invitation is *open* until accepted or revoked, and *live* while open and not expired: live ones hold a
seat of the plan. A resend gives an open one a new token and a new expiry, so the old link stops working.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.store.tables import invites


@dataclass(frozen=True)
class Invite:
    id: str
    tenant_id: str
    email: str
    name: str
    role: str
    invited_by: str | None
    created_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    accepted_at: datetime | None
    revoked_at: datetime | None

    @property
    def open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None

    def live(self, now: datetime) -> bool:
        return self.open and self.expires_at > now


def _of(row: Row[Any]) -> Invite:
    return Invite(
        row.id,
        row.tenant_id,
        row.email,
        row.name,
        row.role,
        row.invited_by,
        row.created_at,
        row.expires_at,
        row.sent_at,
        row.accepted_at,
        row.revoked_at,
    )


def _open(tenant_id: str) -> tuple[ColumnElement[bool], ...]:
    return (invites.c.tenant_id == tenant_id, invites.c.accepted_at.is_(None), invites.c.revoked_at.is_(None))


async def create_invite(
    connection: AsyncConnection,
    *,
    tenant_id: str,
    email: str,
    name: str,
    role: str,
    invited_by: str | None,
    token_hash: str,
    now: datetime,
    expires_at: datetime,
) -> Invite:
    invite = Invite(str(uuid.uuid4()), tenant_id, email, name, role, invited_by, now, expires_at, None, None, None)
    await connection.execute(
        invites.insert().values(
            id=invite.id,
            tenant_id=tenant_id,
            email=email,
            name=name,
            role=role,
            token_hash=token_hash,
            invited_by=invited_by,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return invite


async def open_invites(engine: AsyncEngine, tenant_id: str) -> list[Invite]:
    """Neither accepted nor revoked (expired ones too: they can be sent again), newest first."""
    query = select(invites).where(*_open(tenant_id)).order_by(invites.c.created_at.desc())
    async with engine.connect() as connection:
        return [_of(row) for row in (await connection.execute(query)).all()]


async def count_live(connection: AsyncConnection, tenant_id: str, now: datetime, *, besides: str | None = None) -> int:
    """Live invitations of the tenant (the seats they hold), leaving out ``besides``."""
    query = select(func.count()).select_from(invites).where(*_open(tenant_id), invites.c.expires_at > now)
    if besides is not None:
        query = query.where(invites.c.id != besides)
    return int(await connection.scalar(query) or 0)


async def live_for_email(connection: AsyncConnection, tenant_id: str, email: str, now: datetime) -> Invite | None:
    query = select(invites).where(*_open(tenant_id), invites.c.email == email, invites.c.expires_at > now)
    row = (await connection.execute(query.limit(1))).first()
    return None if row is None else _of(row)


async def get_invite(connection: AsyncConnection, tenant_id: str, invite_id: str) -> Invite | None:
    query = select(invites).where(invites.c.tenant_id == tenant_id, invites.c.id == invite_id)
    row = (await connection.execute(query)).first()
    return None if row is None else _of(row)


async def invite_by_token(connection: AsyncConnection, token_hash: str) -> Invite | None:
    row = (await connection.execute(select(invites).where(invites.c.token_hash == token_hash))).first()
    return None if row is None else _of(row)


async def renew_invite(
    connection: AsyncConnection, tenant_id: str, invite_id: str, token_hash: str, expires_at: datetime
) -> bool:
    """A new token and expiry for an open invitation (the old link stops working); False when it is not open."""
    query = (
        update(invites)
        .where(*_open(tenant_id), invites.c.id == invite_id)
        .values(token_hash=token_hash, expires_at=expires_at, sent_at=None)
    )
    return bool((await connection.execute(query)).rowcount)


async def revoke_invite(connection: AsyncConnection, tenant_id: str, invite_id: str, now: datetime) -> bool:
    query = update(invites).where(*_open(tenant_id), invites.c.id == invite_id).values(revoked_at=now)
    return bool((await connection.execute(query)).rowcount)


async def revoke_expired_for_email(connection: AsyncConnection, tenant_id: str, email: str, now: datetime) -> None:
    """An expired invitation to this address gives way to a new one (one open invitation per address)."""
    query = (
        update(invites)
        .where(*_open(tenant_id), invites.c.email == email, invites.c.expires_at <= now)
        .values(revoked_at=now)
    )
    await connection.execute(query)


async def mark_sent(engine: AsyncEngine, tenant_id: str, invite_id: str, now: datetime) -> None:
    query = update(invites).where(invites.c.tenant_id == tenant_id, invites.c.id == invite_id).values(sent_at=now)
    async with engine.begin() as connection:
        await connection.execute(query)


async def mark_accepted(
    connection: AsyncConnection, tenant_id: str, invite_id: str, user_id: str, now: datetime
) -> bool:
    """Compare-and-set: True for exactly one of two acceptances racing with the same link."""
    query = (
        update(invites)
        .where(*_open(tenant_id), invites.c.id == invite_id, invites.c.expires_at > now)
        .values(accepted_at=now, user_id=user_id)
    )
    return bool((await connection.execute(query)).rowcount)
