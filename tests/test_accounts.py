"""The accounts service: which tenant a caller acts on, seats, and credits (stored plus not yet written)."""

from __future__ import annotations

import pytest

from hub.auth.permissions import CHAT_MANAGE, PLATFORM_BUSINESS_ID, USERS_MANAGE, Principal
from hub.errors import Forbidden, TenantNotFound
from tests.agents import agent_account
from tests.conftest import RunningHub


def principal(tenant_id: str, business_id: str, role: str) -> Principal:
    return Principal("u1", tenant_id, business_id, "staff", role, "a@b.co", "A", "bearer")


async def test_acting_tenant_is_the_own_one_or_a_platform_admins_choice(hub: RunningHub) -> None:
    accounts = hub.node.accounts
    shop, other = await hub.tenant(), await hub.tenant()
    agent = principal(shop.id, shop.business_id, "agent")
    admin = principal("platform-tenant-id", PLATFORM_BUSINESS_ID, "admin")  # a platform admin
    assert (await accounts.acting_tenant(agent, None, CHAT_MANAGE)).id == shop.id
    assert (await accounts.acting_tenant(agent, shop.business_id, CHAT_MANAGE)).id == shop.id
    with pytest.raises(Forbidden):
        await accounts.acting_tenant(agent, other.business_id, CHAT_MANAGE)
    with pytest.raises(Forbidden):
        await accounts.acting_tenant(agent, None, USERS_MANAGE)
    assert (await accounts.acting_tenant(admin, other.business_id, USERS_MANAGE)).id == other.id
    for unknown in ("no-such-shop", "a\x00b", "x" * 5000, ""):
        with pytest.raises(TenantNotFound):
            await accounts.acting_tenant(admin, unknown, CHAT_MANAGE)


async def test_seats_count_enabled_staff_against_the_plan(hub: RunningHub) -> None:
    shop = await hub.tenant()
    for name in ("Ann", "Ben"):
        await agent_account(hub.node.engine, shop.id, name)
    seats = await hub.node.accounts.seats(shop)
    assert (seats.limit, seats.taken) == (3, 2), "starter: 3 seats in pricebook V1"


async def test_credits_used_are_the_stored_count_plus_what_this_node_has_not_written(hub: RunningHub) -> None:
    shop = await hub.tenant()
    meter = hub.node.replies.meter
    meter.spend(shop.id, 2)
    credits = await hub.node.accounts.credits(shop)
    assert (credits.used, credits.included, credits.remaining, credits.exhausted) == (2, 15_000, 14_998, False)
    await meter.flush()
    assert (await hub.node.accounts.credits(shop)).used == 2, "written once, counted once"
