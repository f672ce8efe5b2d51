"""Accounts: tenants opened whole (tenant, default persona, first widget key, owner) and user accounts.

Everything a caller gives is checked and every password hashed *before* the first write, and the
writes of one tenant share one transaction, so a refusal never leaves half a tenant behind. The
store below only keeps what it is given; the HTTP API, the CLI and the demo data all come through
here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.auth.passwords import MIN_PASSWORD_LENGTH, Passwords
from hub.auth.permissions import CUSTOMER_ROLES, STAFF_ROLES
from hub.errors import InvalidInput
from hub.store.models import Tenant
from hub.store.personas import Persona, active_persona
from hub.store.tenants import create_tenant
from hub.store.users import User, create_user, find_user
from hub.store.widget_keys import WidgetKey, create_widget_key

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,60}$")


@dataclass(frozen=True)
class NewAccount:
    """An account checked and with its password hashed: ready to be written."""

    email: str
    password_hash: str
    role: str
    kind: str
    name: str


@dataclass(frozen=True)
class OpenedTenant:
    tenant: Tenant
    persona: Persona
    widget_key: WidgetKey
    owner: User | None


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise InvalidInput("email must look like name@example.com")
    return email


async def new_account(
    passwords: Passwords, *, email: str, password: str, role: str, kind: str = "staff", name: str = ""
) -> NewAccount:
    """Check an account's fields and hash its password (tens of ms, off the event loop), writing nothing."""
    roles = STAFF_ROLES if kind == "staff" else CUSTOMER_ROLES
    if role not in roles:
        raise InvalidInput(f"role must be one of {', '.join(sorted(roles))}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    email = normalise_email(email)
    return NewAccount(email, await passwords.hash(password), role, kind, name.strip() or email.split("@", 1)[0])


async def add_account(
    connection: AsyncConnection, tenant_id: str, account: NewAccount, *, seats: int | None = None
) -> User:
    return await create_user(
        connection,
        tenant_id=tenant_id,
        email=account.email,
        password_hash=account.password_hash,
        role=account.role,
        kind=account.kind,
        name=account.name,
        seats=seats,
    )


async def open_tenant(
    connection: AsyncConnection,
    *,
    name: str,
    business_id: str,
    origins: list[str] | tuple[str, ...] = (),
    plan: str = "starter",
    config: dict[str, Any] | None = None,
    owner: NewAccount | None = None,
) -> OpenedTenant:
    """A tenant ready to use: its row, default persona, first widget key (for its origins) and owner.

    On the caller's connection: inside one ``engine.begin()`` they are all written or none is.
    """
    tenant = await create_tenant(
        connection, name=name, business_id=business_id, origins=origins, config=config, plan=plan
    )
    key = await create_widget_key(connection, tenant.id, tenant.origins)
    user = await add_account(connection, tenant.id, owner) if owner is not None else None
    persona = await active_persona(connection, tenant.id)
    assert persona is not None  # create_tenant made the default one
    return OpenedTenant(tenant, persona, key, user)


class Accounts:
    """The accounts facts of a running node, given what it needs at construction."""

    def __init__(self, engine: AsyncEngine, passwords: Passwords) -> None:
        self._engine = engine
        self._passwords = passwords

    async def authenticate(self, kind: str, email: str, password: str) -> User | None:
        """The account these credentials log in to; None for a wrong password, an unknown email or a
        disabled account, all after the same hashing work."""
        user = await find_user(self._engine, kind, email)
        if not await self._passwords.verify(user.password_hash if user else None, password):
            return None
        return user if user is not None and not user.disabled else None

    async def register_tenant(
        self,
        *,
        name: str,
        business_id: str,
        origins: list[str] | tuple[str, ...],
        plan: str,
        owner_email: str,
        owner_password: str,
        owner_name: str,
    ) -> OpenedTenant:
        """A platform admin's onboarding: the owner is checked and hashed first, then one transaction."""
        owner = await new_account(
            self._passwords, email=owner_email, password=owner_password, role="owner", name=owner_name
        )
        async with self._engine.begin() as connection:
            return await open_tenant(
                connection, name=name, business_id=business_id, origins=origins, plan=plan, owner=owner
            )

    async def add_user(
        self,
        tenant_id: str,
        *,
        email: str,
        password: str,
        role: str,
        kind: str = "staff",
        name: str = "",
        seats: int | None = None,
    ) -> User:
        account = await new_account(self._passwords, email=email, password=password, role=role, kind=kind, name=name)
        async with self._engine.begin() as connection:
            return await add_account(connection, tenant_id, account, seats=seats)
