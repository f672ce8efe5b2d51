"""Accounts: plans, credits and seats of a tenant, who acts on which tenant, and onboarding: tenants
opened whole (tenant, default persona, first widget key, owner) and user accounts.

Everything a caller gives is checked and every password hashed *before* the first write, and the
writes of one tenant share one transaction, so a refusal never leaves half a tenant behind. The
store below only keeps what it is given; the HTTP API, the CLI and the demo data all come through
here.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.auth.passwords import MIN_PASSWORD_LENGTH, Passwords
from hub.auth.permissions import CUSTOMER_ROLES, STAFF_ROLES, Principal
from hub.errors import Forbidden, InvalidInput, NotFound, TenantNotFound
from hub.plans import Plan, Pricebook
from hub.store.credits import usage, usage_of_every_tenant
from hub.store.invites import count_live
from hub.store.models import Tenant
from hub.store.personas import Persona, active_persona
from hub.store.tenants import BUSINESS_ID, create_tenant, get_tenant_by_business_id, list_tenants
from hub.store.users import User, count_seats, create_user, find_user, rename_user
from hub.store.widget_keys import WidgetKey, create_widget_key

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,60}$")


class AccountDeactivated(Forbidden):
    code = "account_deactivated"


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
    connection: AsyncConnection, tenant_id: str, account: NewAccount, *, seats: int | None = None, reserved: int = 0
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
        reserved=reserved,
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


@dataclass(frozen=True)
class Credits:
    """A tenant's AI credits this month (one credit = one AI reply), against its plan's."""

    plan: str
    used: int
    included: int

    @property
    def remaining(self) -> int:
        return max(0, self.included - self.used)

    @property
    def exhausted(self) -> bool:
        return self.used >= self.included


@dataclass(frozen=True)
class Seats:
    """Staff seats: the plan's limit (None = unlimited) and how many accounts that are not disabled take."""

    limit: int | None
    taken: int


class Accounts:
    """The accounts facts of a running node: plans, credits, seats, who acts on which tenant, onboarding.

    Built with exactly what it reads: the engine, password hashing, the live pricebook, the credits
    this node spent but has not written yet (the meter's count over a stored one), and the node's
    tenant cache.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        passwords: Passwords,
        current_pricebook: Callable[[], Pricebook | None],
        credits_used: Callable[[str, int], int],
        cached_tenant: Callable[[str], Awaitable[Tenant | None]],
    ) -> None:
        self._engine = engine
        self._passwords = passwords
        self._current_pricebook = current_pricebook
        self._credits_used = credits_used
        self._cached_tenant = cached_tenant

    async def tenant(self, tenant_id: str) -> Tenant | None:
        """A tenant by id, from the node's cache."""
        return await self._cached_tenant(tenant_id)

    def plan_of(self, tenant: Tenant) -> Plan:
        """The tenant's plan in the live published pricebook."""
        pricebook = self._current_pricebook()
        plan = pricebook.plan(tenant.plan) if pricebook is not None else None
        if plan is None:
            raise NotFound(f"the published pricebook has no plan {tenant.plan!r}")
        return plan

    def _credits(self, tenant: Tenant, stored: int) -> Credits:
        # Each node counts its replies in memory and writes them once a second (hub.chat.metering).
        return Credits(tenant.plan, self._credits_used(tenant.id, stored), self.plan_of(tenant).ai_credits_month)

    async def credits(self, tenant: Tenant) -> Credits:
        return self._credits(tenant, await usage(self._engine, tenant.id))

    async def credits_of_every_tenant(self) -> list[tuple[Tenant, Credits]]:
        """Every tenant with its credits, in two reads (the platform overview)."""
        stored = await usage_of_every_tenant(self._engine)
        return [
            (tenant, self._credits(tenant, stored.get(tenant.id, 0))) for tenant in await list_tenants(self._engine)
        ]

    async def seats(self, tenant: Tenant) -> Seats:
        async with self._engine.connect() as connection:
            taken = await count_seats(connection, tenant.id)
        return Seats(self.plan_of(tenant).seats, taken)

    async def acting_tenant(self, principal: Principal, business_id: str | None, permission: str) -> Tenant:
        """The tenant a call acts on: the caller's own, or, for a platform admin, the one ``business_id`` names.

        Raises Forbidden (no ``permission``, or another tenant named by someone else than a platform
        admin) or TenantNotFound.
        """
        if permission not in principal.permissions:
            raise Forbidden(f"this account lacks the {permission} permission")
        if business_id is None or business_id == principal.business_id:
            tenant = await self._cached_tenant(principal.tenant_id)
        elif not principal.is_platform_admin:
            raise Forbidden("only platform admins act on other tenants")
        else:
            # What cannot be a business_id is not looked up (NUL or overlong text would reach the database).
            found = BUSINESS_ID.fullmatch(business_id) is not None
            tenant = await get_tenant_by_business_id(self._engine, business_id) if found else None
        if tenant is None:
            raise TenantNotFound("unknown tenant")
        return tenant

    async def authenticate(self, kind: str, email: str, password: str) -> User | None:
        """The account these credentials log in to; None for a wrong password or an unknown email, after the
        same hashing work. A deactivated account is refused (403 ``account_deactivated``), only to someone who
        knows its password."""
        user = await find_user(self._engine, kind, email)
        if not await self._passwords.verify(user.password_hash if user else None, password) or user is None:
            return None
        if user.disabled:
            raise AccountDeactivated("this account was deactivated; ask an owner of your team to reactivate it")
        return user

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

    async def add_teammate(self, tenant: Tenant, *, email: str, password: str, role: str, name: str) -> User:
        """An owner's new agent or owner, within the plan's seats (409 ``seat_limit`` beyond them)."""
        account = await new_account(self._passwords, email=email, password=password, role=role, name=name)
        async with self._engine.begin() as connection:
            invited = await count_live(connection, tenant.id, datetime.now(UTC))  # live invitations hold seats
            return await add_account(connection, tenant.id, account, seats=self.plan_of(tenant).seats, reserved=invited)

    async def rename(self, principal: Principal, name: str) -> str:
        """A staff member's own display name (the body's limits are checked by its model); the name set."""
        name = name.strip()
        if not name:
            raise InvalidInput("name must not be blank")
        if principal.kind != "staff":
            raise Forbidden("only staff accounts have a display name")
        if not await rename_user(self._engine, principal.tenant_id, principal.user_id, name):
            raise NotFound("unknown account")
        return name
