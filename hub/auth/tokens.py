"""Login tokens: opaque random strings, stored only as SHA-256 hashes, expiring and revocable.

Each token comes with a CSRF token. A cookie is sent by the browser on its own, so a request that
authenticates by cookie must also prove it can read the CSRF token (header ``X-CSRF-Token``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.auth.permissions import Principal
from hub.store.tables import auth_tokens, tenants, users
from hub.store.users import User

TOKEN_TTL = timedelta(hours=12)
SIGNED_IN_BATCH = 500  # token hashes per query: well under every backend's limit of bound parameters


def token_digest(value: str) -> str:
    """What the store keeps of a token (and what names a signed-in socket between nodes)."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenCheck:
    principal: Principal
    csrf_hash: str
    token_hash: str

    def csrf_ok(self, csrf_token: str | None) -> bool:
        return bool(csrf_token) and hmac.compare_digest(self.csrf_hash, token_digest(csrf_token or ""))


async def issue_token(engine: AsyncEngine, user: User) -> IssuedToken:
    async with engine.begin() as connection:
        return await issue_token_on(connection, user)


async def issue_token_on(connection: AsyncConnection, user: User) -> IssuedToken:
    """A new login token, written on the caller's connection (so it commits with what else the caller writes)."""
    token = "bob_" + secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(24)
    now = datetime.now(UTC)
    await connection.execute(
        auth_tokens.insert().values(
            token_hash=token_digest(token),
            user_id=user.id,
            tenant_id=user.tenant_id,
            csrf_hash=token_digest(csrf_token),
            created_at=now,
            expires_at=now + TOKEN_TTL,
        )
    )
    return IssuedToken(token, csrf_token, now + TOKEN_TTL)


async def check_token(engine: AsyncEngine, token: str, via: str) -> TokenCheck | None:
    query = (
        select(
            auth_tokens.c.csrf_hash, auth_tokens.c.expires_at, auth_tokens.c.revoked_at, users, tenants.c.business_id
        )
        .join(users, users.c.id == auth_tokens.c.user_id)
        .join(tenants, tenants.c.id == users.c.tenant_id)
        .where(auth_tokens.c.token_hash == token_digest(token))
    )
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    if row is None or row.revoked_at is not None or row.disabled:
        return None
    if row.expires_at <= datetime.now(UTC):
        return None
    principal = Principal(
        user_id=row.id,
        tenant_id=row.tenant_id,
        business_id=row.business_id,
        kind=row.kind,
        role=row.role,
        email=row.email,
        name=row.name,
        via=via,
    )
    return TokenCheck(principal, row.csrf_hash, token_digest(token))


async def revoke_user_tokens(connection: AsyncConnection, user_id: str, *, keep: str | None = None) -> int:
    """Revoke every live token of a person (but ``keep``, a token hash), on the caller's connection; how many.

    Every HTTP request reads its token from the store, so each is refused from the commit on, on every node.
    """
    query = update(auth_tokens).where(auth_tokens.c.user_id == user_id, auth_tokens.c.revoked_at.is_(None))
    if keep is not None:
        query = query.where(auth_tokens.c.token_hash != keep)
    result = await connection.execute(query.values(revoked_at=datetime.now(UTC)))
    return int(result.rowcount or 0)


async def signed_in(engine: AsyncEngine, token_hashes: Collection[str]) -> set[str]:
    """Which of these token hashes still sign someone in (not revoked, account not deactivated).

    Expiry is left out on purpose: a socket opened while its token was valid lives on as it always did; this
    is for catching up on sign-outs a node may have missed.
    """
    hashes, valid = list(token_hashes), set[str]()
    async with engine.connect() as connection:
        for start in range(0, len(hashes), SIGNED_IN_BATCH):
            query = (
                select(auth_tokens.c.token_hash)
                .join(users, users.c.id == auth_tokens.c.user_id)
                .where(
                    auth_tokens.c.token_hash.in_(hashes[start : start + SIGNED_IN_BATCH]),
                    auth_tokens.c.revoked_at.is_(None),
                    users.c.disabled.is_(False),
                )
            )
            valid.update((await connection.execute(query)).scalars())
    return valid


async def revoke_token(engine: AsyncEngine, token: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            update(auth_tokens)
            .where(auth_tokens.c.token_hash == token_digest(token), auth_tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
