"""User accounts of a tenant: staff (agents, owners, admins) and customers.

The store keeps what it is given: emails are normalised, roles checked and passwords hashed above it
(``hub.accounts``), so this module knows nothing of hashing or permissions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, func, select, update
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
    language: str | None = None  # the language they last opened Mission Control in (their emails')


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


def check_seats(taken: int, seats: int | None) -> None:
    """Raise ``SeatLimitReached`` when ``taken`` seats (accounts and pending invitations) leave none free."""
    if seats is not None and taken >= seats:
        raise SeatLimitReached(
            f"the plan includes {seats} seats and all are taken or invited; upgrade the plan, revoke an "
            "invitation or deactivate an account"
        )


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
    reserved: int = 0,
) -> User:
    """``seats``: the plan's limit of staff accounts to enforce (None: unlimited, or an operator's CLI call);
    ``reserved``: seats held for others meanwhile (pending invitations).

    Runs on the caller's connection, so it commits or rolls back with whatever else the caller writes.
    """
    tenant_query = select(tenants.c.business_id).where(tenants.c.id == tenant_id)
    if seats is not None and connection.dialect.name == "postgresql":
        tenant_query = tenant_query.with_for_update()  # two invitations at once cannot both take the last seat
    business_id = await connection.scalar(tenant_query)
    if business_id is None:
        raise InvalidInput("unknown tenant")
    if seats is not None and kind == "staff":
        check_seats(await count_seats(connection, tenant_id) + reserved, seats)
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
    return None if row is None else _user(row)


def _user(row: Row[Any]) -> User:
    return User(
        row.id,
        row.tenant_id,
        row.business_id,
        row.kind,
        row.email,
        row.name,
        row.role,
        row.password_hash,
        row.disabled,
        row.language,
    )


async def get_user(connection: AsyncConnection, tenant_id: str, user_id: str, *, lock: bool = False) -> User | None:
    """A staff account of this tenant (``lock``: held until the caller's transaction ends, on PostgreSQL)."""
    query = (
        select(users, tenants.c.business_id)
        .join(tenants, tenants.c.id == users.c.tenant_id)
        .where(users.c.tenant_id == tenant_id, users.c.id == user_id, users.c.kind == "staff")
    )
    if lock and connection.dialect.name == "postgresql":
        query = query.with_for_update(of=users)
    row = (await connection.execute(query)).first()
    return None if row is None else _user(row)


async def get_user_by_id(connection: AsyncConnection, user_id: str) -> User | None:
    query = select(users, tenants.c.business_id).join(tenants, tenants.c.id == users.c.tenant_id)
    row = (await connection.execute(query.where(users.c.id == user_id))).first()
    return None if row is None else _user(row)


async def active_owners(connection: AsyncConnection, tenant_id: str) -> int:
    """Owners of the tenant whose accounts are not deactivated."""
    query = (
        select(func.count())
        .select_from(users)
        .where(
            users.c.tenant_id == tenant_id,
            users.c.kind == "staff",
            users.c.role == "owner",
            users.c.disabled.is_(False),
        )
    )
    return int(await connection.scalar(query) or 0)


async def set_disabled(connection: AsyncConnection, tenant_id: str, user_id: str, disabled: bool) -> None:
    query = update(users).where(users.c.tenant_id == tenant_id, users.c.id == user_id).values(disabled=disabled)
    await connection.execute(query)


async def set_password_hash(connection: AsyncConnection, user_id: str, password_hash: str) -> None:
    await connection.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


async def email_in_use(connection: AsyncConnection, kind: str, email: str) -> bool:
    query = select(users.c.id).where(users.c.kind == kind, users.c.email == email)
    return (await connection.execute(query)).first() is not None


async def list_staff(engine: AsyncEngine, tenant_id: str) -> list[User]:
    query = (
        select(users, tenants.c.business_id)
        .join(tenants, tenants.c.id == users.c.tenant_id)
        .where(users.c.tenant_id == tenant_id, users.c.kind == "staff")
        .order_by(users.c.created_at)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [_user(row) for row in rows]


async def rename_user(engine: AsyncEngine, tenant_id: str, user_id: str, name: str) -> bool:
    """Set an account's display name; False when no such account is in this tenant."""
    query = update(users).where(users.c.tenant_id == tenant_id, users.c.id == user_id).values(name=name)
    async with engine.begin() as connection:
        result = await connection.execute(query)
    return bool(result.rowcount)


async def remember_language(engine: AsyncEngine, tenant_id: str, user_id: str, language: str) -> None:
    """The language a staff member uses Mission Control in: what their emails are written in. Written only when
    it changed (the UPDATE of an unchanged row finds nothing to write)."""
    query = (
        update(users)
        .where(
            users.c.tenant_id == tenant_id,
            users.c.id == user_id,
            (users.c.language.is_(None)) | (users.c.language != language),
        )
        .values(language=language)
    )
    async with engine.begin() as connection:
        await connection.execute(query)
