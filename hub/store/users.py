"""User accounts of a tenant: staff (agents, owners, admins) and customers.

The store keeps what it is given: emails are normalised, roles checked and passwords hashed above it
(``hub.accounts``), so this module knows nothing of hashing or permissions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.errors import Conflict, InvalidInput
from hub.store.tables import tenants, users


@dataclass(frozen=True)
class User:
    id: str
    tenant_id: str
    business_id: str
    kind: str
    email: str
    name: str
    role: str
    password_hash: str
    disabled: bool


class SeatLimitReached(Conflict):
    code = "seat_limit"


async def count_seats(connection: AsyncConnection, tenant_id: str) -> int:
    """Seats taken: the tenant's staff accounts that are not disabled."""
    query = (
        select(func.count())
        .select_from(users)
        .where(users.c.tenant_id == tenant_id, users.c.kind == "staff", users.c.disabled.is_(False))
    )
    return int(await connection.scalar(query) or 0)


async def create_user(
    connection: AsyncConnection,
    *,
    tenant_id: str,
    email: str,
    password_hash: str,
    role: str,
    kind: str = "staff",
    name: str,
    seats: int | None = None,
) -> User:
    """``seats``: the plan's limit of staff accounts to enforce (None: unlimited, or an operator's CLI call).

    Runs on the caller's connection, so it commits or rolls back with whatever else the caller writes.
    """
    tenant_query = select(tenants.c.business_id).where(tenants.c.id == tenant_id)
    if seats is not None and connection.dialect.name == "postgresql":
        tenant_query = tenant_query.with_for_update()  # two invitations at once cannot both take the last seat
    business_id = await connection.scalar(tenant_query)
    if business_id is None:
        raise InvalidInput("unknown tenant")
    if seats is not None and kind == "staff" and await count_seats(connection, tenant_id) >= seats:
        raise SeatLimitReached(
            f"the plan includes {seats} seats and all are taken; upgrade the plan or disable an account"
        )
    user = User(str(uuid.uuid4()), tenant_id, business_id, kind, email, name, role, password_hash, False)
    try:
        await connection.execute(
            users.insert().values(
                id=user.id,
                tenant_id=tenant_id,
                kind=kind,
                email=email,
                name=name,
                role=role,
                password_hash=password_hash,
                disabled=False,
                created_at=datetime.now(UTC),
            )
        )
    except IntegrityError:
        raise Conflict(f"a {kind} account with email {email} already exists") from None
    return user


async def find_user(engine: AsyncEngine, kind: str, email: str) -> User | None:
    query = (
        select(users, tenants.c.business_id)
        .join(tenants, tenants.c.id == users.c.tenant_id)
        .where(users.c.kind == kind, users.c.email == email.strip().lower())
    )
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    if row is None:
        return None
    return User(
        row.id, row.tenant_id, row.business_id, row.kind, row.email, row.name, row.role, row.password_hash, row.disabled
    )


async def list_staff(engine: AsyncEngine, tenant_id: str) -> list[User]:
    query = (
        select(users, tenants.c.business_id)
        .join(tenants, tenants.c.id == users.c.tenant_id)
        .where(users.c.tenant_id == tenant_id, users.c.kind == "staff")
        .order_by(users.c.created_at)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [
        User(r.id, r.tenant_id, r.business_id, r.kind, r.email, r.name, r.role, r.password_hash, r.disabled)
        for r in rows
    ]


async def rename_user(engine: AsyncEngine, tenant_id: str, user_id: str, name: str) -> bool:
    """Set an account's display name; False when no such account is in this tenant."""
    query = update(users).where(users.c.tenant_id == tenant_id, users.c.id == user_id).values(name=name)
    async with engine.begin() as connection:
        result = await connection.execute(query)
    return bool(result.rowcount)
