"""The pricebook: the seed V1 table, platform-admin drafts and publishing, live numbers on every node."""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import httpx

from hub.auth.permissions import PLATFORM_BUSINESS_ID
from hub.settings import Settings
from hub.store.models import Tenant
from hub.store.pricebook import SEED_PLANS
from hub.store.tenants import get_tenant_by_business_id
from tests.accounts import create_tenant
from tests.agents import agent_account, login
from tests.conftest import RunningHub, is_ai_message, two_hubs, visitor

V1_PLANS = [
    {"id": "starter", "name": "Starter", "price_usd_month": 79, "ai_credits_month": 15000, "seats": 3,
     "integrations": 1, "support": "standard"},
    {"id": "pro", "name": "Pro", "price_usd_month": 249, "ai_credits_month": 75000, "seats": 10,
     "integrations": 3, "support": "priority"},
    {"id": "enterprise", "name": "Enterprise", "price_usd_month": 899, "ai_credits_month": 250000, "seats": None,
     "integrations": 10, "support": "dedicated"},
]  # fmt: skip


def v2_plans() -> list[dict[str, Any]]:
    plans = copy.deepcopy(V1_PLANS)
    plans[0]["price_usd_month"] = 99
    plans[0]["ai_credits_month"] = 20000
    plans[2]["seats"] = 500
    return plans


async def platform(hub: RunningHub) -> Tenant:
    engine = hub.node.engine
    found = await get_tenant_by_business_id(engine, PLATFORM_BUSINESS_ID)
    return found or await create_tenant(engine, name="Office16852", business_id=PLATFORM_BUSINESS_ID)


async def platform_admin_token(hub: RunningHub) -> str:
    email = await agent_account(hub.node.engine, (await platform(hub)).id, "Root", role="admin")
    return str((await login(hub.http, email))["token"])


async def test_published_pricebook_is_exactly_the_product_pages_table_as_seed_v1(hub: RunningHub) -> None:
    assert [dict(plan) for plan in SEED_PLANS] == V1_PLANS
    async with httpx.AsyncClient(base_url=hub.http) as client:
        current = await client.get("/api/pricebook")
        first = await client.get("/api/pricebook/versions/1")
    assert current.status_code == 200 and current.headers["access-control-allow-origin"] == "*"
    body = current.json()
    assert (body["version"], body["label"], body["status"]) == (1, "pricebook-seed V1", "published")
    assert body["plans"] == V1_PLANS
    assert first.json() == body


async def test_only_platform_admins_draft_and_publish_and_bad_drafts_are_refused(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    owner = str((await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Olga", "owner")))["token"])
    admin = await platform_admin_token(hub)
    draft = {"label": "Winter 2027", "plans": v2_plans()}
    async with httpx.AsyncClient(base_url=hub.http) as client:
        assert (await client.post("/api/admin/pricebook/versions", json=draft)).status_code == 401
        as_owner = await client.post(
            "/api/admin/pricebook/versions", json=draft, headers={"Authorization": f"Bearer {owner}"}
        )
        assert as_owner.status_code == 403 and as_owner.json()["error"]["code"] == "forbidden"
        client.headers["Authorization"] = f"Bearer {admin}"
        bad_drafts: list[Any] = [
            {"plans": v2_plans()[:2]},
            {"plans": [*v2_plans()[:2], v2_plans()[0]]},
            {"plans": "three"},
            {"plans": v2_plans(), "label": 7},
        ]
        for field, value in (
            ("price_usd_month", -1),
            ("price_usd_month", 9.5),
            ("ai_credits_month", True),
            ("seats", 0),
            ("support", "gold"),
            ("name", ""),
            ("id", "platinum"),
        ):
            plans = v2_plans()
            plans[1][field] = value
            bad_drafts.append({"plans": plans})
        for bad in bad_drafts:
            refused = await client.post("/api/admin/pricebook/versions", json=bad)
            assert refused.status_code == 400, (bad, refused.text)
            assert refused.json()["error"]["code"] == "invalid_input"

        created = await client.post("/api/admin/pricebook/versions", json=draft)
        assert created.status_code == 201
        version = created.json()["version"]
        assert created.json()["status"] == "draft" and created.json()["label"] == "Winter 2027"
        async with httpx.AsyncClient(base_url=hub.http) as anonymous:
            hidden = await anonymous.get(f"/api/pricebook/versions/{version}")
        assert hidden.status_code == 404, "a draft is not public"
        assert (await client.get(f"/api/pricebook/versions/{version}")).json()["status"] == "draft"
        assert (await client.get("/api/pricebook")).json()["version"] == 1, "a draft changes nothing"

        published = await client.post(f"/api/admin/pricebook/versions/{version}/publish")
        assert published.status_code == 200 and published.json()["status"] == "published"
        again = await client.post(f"/api/admin/pricebook/versions/{version}/publish")
        assert again.status_code == 409
        assert (await client.post("/api/admin/pricebook/versions/999/publish")).status_code == 404
        assert (await client.get("/api/pricebook/versions/abc")).status_code == 400
        current = (await client.get("/api/pricebook")).json()
        assert current["version"] == version and current["plans"] == v2_plans()
        assert (await client.get("/api/pricebook/versions/1")).json()["plans"] == V1_PLANS


async def test_builtin_responder_quotes_the_live_pricebook_on_the_platforms_own_site(hub: RunningHub) -> None:
    async with visitor(hub.ws, (await platform(hub)).id) as client:
        await client.say("How much does the Pro plan cost?")
        reply = (await client.ai_reply())[-1]["text"]
    assert "Pro $249/month with 75,000 AI credits, up to 10 seats" in reply
    assert "Enterprise $899/month with 250,000 AI credits, unlimited seats" in reply
    async with visitor(hub.ws, (await hub.tenant()).id) as client:
        await client.say("What are your shipping costs?")
        reply = (await client.ai_reply())[-1]["text"]
    assert "$" not in reply, "a shop's visitor asking about costs is not sold Bob's plans"


async def test_publishing_v2_changes_the_numbers_on_every_node_at_once(
    shared_settings: Settings,
) -> None:
    async with two_hubs(shared_settings) as (node_a, node_b):
        tenant = await platform(node_b)
        admin = await platform_admin_token(node_a)
        async with httpx.AsyncClient(base_url=node_a.http, headers={"Authorization": f"Bearer {admin}"}) as client:
            version = (await client.post("/api/admin/pricebook/versions", json={"plans": v2_plans()})).json()["version"]
            assert (await client.post(f"/api/admin/pricebook/versions/{version}/publish")).status_code == 200
        published_at = time.monotonic()
        async with httpx.AsyncClient(base_url=node_b.http) as client:
            while (await client.get("/api/pricebook")).json()["version"] != version:
                assert time.monotonic() - published_at < 2, "node B still shows the old pricebook"
                await asyncio.sleep(0.02)
        async with visitor(node_b.ws, tenant.id) as on_b:
            await on_b.say("what are your prices?")
            frames = await on_b.ai_reply()
        reply = next(frame for frame in reversed(frames) if is_ai_message(frame))["text"]
        assert "Starter $99/month with 20,000 AI credits" in reply and "up to 500 seats" in reply
