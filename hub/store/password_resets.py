"""One-time links that set a new password (migration 0020), kept as SHA-256 hashes like login tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.store.tables import password_resets


@dataclass(frozen=True)
class PasswordReset:
    user_id: str
    tenant_id: str
    expires_at: datetime
    used_at: datetime | None

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and self.expires_at > now


async def create_reset(
    engine: AsyncEngine, *, user_id: str, tenant_id: str, token_hash: str, now: datetime, expires_at: datetime
) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            password_resets.insert().values(
                token_hash=token_hash, user_id=user_id, tenant_id=tenant_id, created_at=now, expires_at=expires_at
            )
        )


async def reset_by_token(connection: AsyncConnection, token_hash: str) -> PasswordReset | None:
    query = select(password_resets).where(password_resets.c.token_hash == token_hash)
    row = (await connection.execute(query)).first()
    return None if row is None else PasswordReset(row.user_id, row.tenant_id, row.expires_at, row.used_at)


async def use_reset(connection: AsyncConnection, token_hash: str, now: datetime) -> str | None:
    """Compare-and-set: the account's id for exactly one use of a usable link, else None. Every other link of
    that account stops working too (the newest password is the one that counts)."""
    reset = await reset_by_token(connection, token_hash)
    if reset is None or not reset.usable(now):
        return None
    query = (
        update(password_resets)
        .where(
            password_resets.c.token_hash == token_hash,
            password_resets.c.used_at.is_(None),
            password_resets.c.expires_at > now,
        )
        .values(used_at=now)
    )
    if not (await connection.execute(query)).rowcount:
        return None
    others = update(password_resets).where(
        password_resets.c.user_id == reset.user_id, password_resets.c.used_at.is_(None)
    )
    await connection.execute(others.values(used_at=now))
    return reset.user_id
