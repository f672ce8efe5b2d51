"""User accounts of a tenant: staff (agents, owners, admins) and customers."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.auth.passwords import MIN_PASSWORD_LENGTH, hash_password
from hub.auth.permissions import CUSTOMER_ROLES, STAFF_ROLES
from hub.errors import Conflict, InvalidInput
from hub.store.tables import tenants, users

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,60}$")


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


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise InvalidInput("email must look like name@example.com")
    return email


class SeatLimitReached(Conflict):
    code = "seat_limit"


async def create_user(
    engine: AsyncEngine,
    *,
    tenant_id: str,
    email: str,
    password: str,
    role: str,
    kind: str = "staff",
    name: str = "",
    seats: int | None = None,
) -> User:
    """``seats``: the plan's limit of staff accounts to enforce (None: unlimited, or an operator's CLI call)."""
    roles = STAFF_ROLES if kind == "staff" else CUSTOMER_ROLES
    if role not in roles:
        raise InvalidInput(f"role must be one of {', '.join(sorted(roles))}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    email = normalise_email(email)
    user_id = str(uuid.uuid4())
    password_hash = await hash_password(password)
    try:
        async with engine.begin() as connection:
            tenant_query = select(tenants.c.business_id).where(tenants.c.id == tenant_id)
            if seats is not None and connection.dialect.name == "postgresql":
                tenant_query = tenant_query.with_for_update()  # two invitations at once cannot both take the last seat
            business_id = await connection.scalar(tenant_query)
            if business_id is None:
                raise InvalidInput("unknown tenant")
            if seats is not None and kind == "staff":
                taken = await connection.scalar(
                    select(func.count())
                    .select_from(users)
                    .where(users.c.tenant_id == tenant_id, users.c.kind == "staff", users.c.disabled.is_(False))
                )
                if (taken or 0) >= seats:
                    raise SeatLimitReached(
                        f"the plan includes {seats} seats and all are taken; upgrade the plan or disable an account"
                    )
            await connection.execute(
                users.insert().values(
                    id=user_id,
                    tenant_id=tenant_id,
                    kind=kind,
                    email=email,
                    name=name.strip() or email.split("@", 1)[0],
                    role=role,
                    password_hash=password_hash,
                    disabled=False,
                    created_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        raise Conflict(f"a {kind} account with email {email} already exists") from None
    return User(
        user_id, tenant_id, business_id, kind, email, name or email.split("@", 1)[0], role, password_hash, False
    )


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
