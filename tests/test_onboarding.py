"""Onboarding: a platform admin registers a tenant with everything it needs; owners add their team
within the plan's seats, which come from the live pricebook."""

from __future__ import annotations

import httpx

from hub.auth.permissions import PLATFORM_BUSINESS_ID
from hub.store.tenants import get_tenant_by_business_id
from tests.accounts import create_tenant
from tests.agents import PASSWORD, agent_account, login
from tests.conftest import RunningHub, visitor


async def platform_admin(hub: RunningHub) -> httpx.AsyncClient:
    engine = hub.node.engine
    platform = await get_tenant_by_business_id(engine, PLATFORM_BUSINESS_ID) or await create_tenant(
        engine, name="Office16852", business_id=PLATFORM_BUSINESS_ID
    )
    token = (await login(hub.http, await agent_account(engine, platform.id, "Root", role="admin")))["token"]
    return httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"})


async def test_platform_admin_registers_a_tenant_ready_to_use(hub: RunningHub) -> None:
    request = {
        "name": "Kwiaciarnia Róża",
        "business_id": "kwiaciarnia-roza",
        "plan": "pro",
        "origins": ["https://roza.example.com"],
        "owner": {"email": "owner@roza.example.com", "password": PASSWORD, "name": "Róża"},
    }
    async with await platform_admin(hub) as admin:
        registered = await admin.post("/api/admin/tenants", json=request)
        assert registered.status_code == 201, registered.text
        body = registered.json()
        assert body["business_id"] == "kwiaciarnia-roza" and body["plan"] == "pro"
        assert body["owner"]["role"] == "owner" and body["widget_key"].startswith("pk_live_")
        assert body["persona"]["active"] is True
        again = await admin.post("/api/admin/tenants", json=request)
        assert again.status_code == 409
        assert (await admin.post("/api/admin/tenants", json={**request, "plan": "gold"})).status_code == 400
    owner = await login(hub.http, "owner@roza.example.com")
    assert owner["user"]["business_id"] == "kwiaciarnia-roza"
    async with visitor(hub.ws, body["uuid"], origin="https://roza.example.com") as client:
        await client.say("hello")
        await client.ai_reply()
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {owner['token']}"}) as client:
        refused = await client.post("/api/admin/tenants", json={**request, "business_id": "other-shop"})
        assert refused.status_code == 403, "owners do not register tenants"


async def test_owner_adds_agents_until_the_plans_seats_are_taken(hub: RunningHub) -> None:
    tenant = await hub.tenant()  # starter: 3 seats in pricebook V1
    token = (await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Olga", "owner")))["token"]
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as client:
        for number in (1, 2):
            added = await client.post(
                "/api/users", json={"email": f"agent{number}@shop.example.com", "password": PASSWORD, "name": "A"}
            )
            assert added.status_code == 201 and added.json()["role"] == "agent"
        team = (await client.get("/api/users")).json()
        assert (team["plan"], team["seats"], team["seats_taken"]) == ("starter", 3, 3)
        full = await client.post("/api/users", json={"email": "agent3@shop.example.com", "password": PASSWORD})
        assert full.status_code == 409
        assert full.json()["error"]["code"] == "seat_limit" and "3 seats" in full.json()["error"]["message"]
        bad_role = await client.post(
            "/api/users", json={"email": "boss@shop.example.com", "password": PASSWORD, "role": "admin"}
        )
        assert bad_role.status_code == 400, "owners cannot create platform-level roles"
    agent = (await login(hub.http, "agent1@shop.example.com"))["token"]
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {agent}"}) as client:
        assert (await client.get("/api/users")).status_code == 403, "agents do not manage the team"


async def test_a_refused_registration_leaves_nothing_behind_and_the_retry_succeeds(hub: RunningHub) -> None:
    request = {
        "name": "Half Made",
        "business_id": "half-made",
        "owner": {"email": "owner@half.example.com", "password": "short", "name": "Hal"},
    }
    async with await platform_admin(hub) as admin:
        refused = await admin.post("/api/admin/tenants", json=request)
        assert refused.status_code == 400, refused.text
        assert await get_tenant_by_business_id(hub.node.engine, "half-made") is None, "no tenant row without its owner"
        retried = await admin.post(
            "/api/admin/tenants", json={**request, "owner": {**request["owner"], "password": PASSWORD}}
        )
        assert retried.status_code == 201, retried.text


async def test_a_registration_failing_half_way_rolls_back_the_tenant(hub: RunningHub) -> None:
    taken = await agent_account(hub.node.engine, (await hub.tenant()).id, "Taken", "owner")
    request = {"name": "Late Fail", "business_id": "late-fail", "owner": {"email": taken, "password": PASSWORD}}
    async with await platform_admin(hub) as admin:
        refused = await admin.post("/api/admin/tenants", json=request)
        assert refused.status_code == 409 and "already exists" in refused.json()["error"]["message"]
    assert await get_tenant_by_business_id(hub.node.engine, "late-fail") is None, "the owner's insert failed last"
