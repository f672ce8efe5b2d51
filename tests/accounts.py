"""Tenants, accounts and widget keys for tests, each written in a transaction of its own.

The hub composes these store writes (``hub.accounts``); tests that only need one row at a time use
these shorthands with an engine.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.accounts import add_account, new_account
from hub.auth.passwords import Passwords
from hub.store import tenants, widget_keys
from hub.store.models import Tenant
from hub.store.users import User
from hub.store.widget_keys import WidgetKey
from tests.services import TEST_PASSWORD_HASHING

PASSWORDS = Passwords(TEST_PASSWORD_HASHING)


async def create_tenant(engine: AsyncEngine, **fields: Any) -> Tenant:
    """A tenant and its default persona, without widget keys or accounts."""
    async with engine.begin() as connection:
        return await tenants.create_tenant(connection, **fields)


async def create_user(
    engine: AsyncEngine, *, tenant_id: str, email: str, password: str, role: str, kind: str = "staff", name: str = ""
) -> User:
    account = await new_account(PASSWORDS, email=email, password=password, role=role, kind=kind, name=name)
    async with engine.begin() as connection:
        return await add_account(connection, tenant_id, account)


async def create_widget_key(
    engine: AsyncEngine, tenant_id: str, origins: list[str] | tuple[str, ...], mode: str = "live"
) -> WidgetKey:
    async with engine.begin() as connection:
        return await widget_keys.create_widget_key(connection, tenant_id, origins, mode)
