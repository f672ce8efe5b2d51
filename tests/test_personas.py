"""Personas: CRUD with the product page's field names, one active per tenant, tenant isolation, and the
active persona speaking in live sessions at once (both AI providers read it at the start of each reply)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from hub.chat.metering import TenantMeter
from hub.settings import Settings
from tests.agents import agent_account, login
from tests.conftest import RunningHub, two_hubs, visitor


async def owner_client(hub: RunningHub, tenant_id: str) -> httpx.AsyncClient:
    token = (await login(hub.http, await agent_account(hub.node.engine, tenant_id, "Olga", "owner")))["token"]
    return httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"})


PERSONA = {
    "name": "Ada",
    "description": "Concierge of the shop",
    "tone": "warm and precise",
    "systemPrompt": "You are Ada, the concierge of Acme. Answer in one sentence.",
}


async def test_every_tenant_starts_with_one_active_default_persona(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with await owner_client(hub, tenant.id) as client:
        listed = (await client.get("/api/personas")).json()["personas"]
    assert len(listed) == 1
    (default,) = listed
    assert default["active"] is True and default["name"] == "Bob"
    assert set(default) >= {"id", "name", "description", "tone", "systemPrompt", "active"}
    assert tenant.name in default["systemPrompt"]


async def test_personas_crud_validation_and_exactly_one_active(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with await owner_client(hub, tenant.id) as client:
        (default,) = (await client.get("/api/personas")).json()["personas"]
        created = await client.post("/api/personas", json=PERSONA)
        assert created.status_code == 201
        ada = created.json()
        assert {key: ada[key] for key in PERSONA} == PERSONA and ada["active"] is False
        assert (await client.get(f"/api/personas/{ada['id']}")).json() == ada

        bad: list[dict[str, Any]] = [
            {**PERSONA, "name": ""},
            {**PERSONA, "name": "x" * 61},
            {**PERSONA, "description": "x" * 501},
            {**PERSONA, "tone": "x" * 101},
            {**PERSONA, "systemPrompt": "x" * 8001},
            {**PERSONA, "systemPrompt": 5},
            {"name": "No prompt"},
            {**PERSONA, "active": "yes"},
        ]
        for body in bad:
            refused = await client.post("/api/personas", json=body)
            assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_input", body

        changed = await client.patch(f"/api/personas/{ada['id']}", json={"tone": "playful", "active": True})
        assert changed.status_code == 200 and changed.json()["tone"] == "playful" and changed.json()["active"]
        actives = [p["name"] for p in (await client.get("/api/personas")).json()["personas"] if p["active"]]
        assert actives == ["Ada"], "activating one deactivates the other"
        assert (await client.put(f"/api/personas/{ada['id']}", json={"active": False})).status_code == 400
        assert (await client.delete(f"/api/personas/{ada['id']}")).status_code == 409, "the active one stays"
        assert (await client.delete(f"/api/personas/{default['id']}")).status_code == 204
        assert (await client.get(f"/api/personas/{default['id']}")).status_code == 404
        assert (await client.patch("/api/personas/no-such-id", json={"tone": "x"})).status_code == 404


async def test_no_persona_reaches_another_tenant(hub: RunningHub) -> None:
    tenant_a, tenant_b = await hub.tenant(), await hub.tenant()
    async with await owner_client(hub, tenant_b.id) as client_b:
        theirs = (await client_b.post("/api/personas", json=PERSONA)).json()
    agent = (await login(hub.http, await agent_account(hub.node.engine, tenant_a.id, "Anna")))["token"]
    async with await owner_client(hub, tenant_a.id) as client_a:
        assert theirs["id"] not in [p["id"] for p in (await client_a.get("/api/personas")).json()["personas"]]
        for method in ("GET", "PATCH", "PUT", "DELETE"):
            kwargs: dict[str, Any] = {"json": {"tone": "stolen"}} if method in ("PATCH", "PUT") else {}
            response = await client_a.request(method, f"/api/personas/{theirs['id']}", **kwargs)
            assert response.status_code == 404, method
        other = await client_a.get("/api/personas", params={"business_id": tenant_b.business_id})
        assert other.status_code == 403
        as_agent = await client_a.get("/api/personas", headers={"Authorization": f"Bearer {agent}"})
        assert as_agent.status_code == 403, "agents do not manage personas"
    async with await owner_client(hub, tenant_b.id) as client_b:
        assert (await client_b.get(f"/api/personas/{theirs['id']}")).json()["tone"] == PERSONA["tone"]


async def test_activating_a_persona_changes_the_next_reply_in_a_live_session(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client, await owner_client(hub, tenant.id) as owner:
        await client.say("who are you?")
        assert "I'm Bob" in (await client.ai_reply())[-1]["text"]
        ada = (await owner.post("/api/personas", json={**PERSONA, "active": True})).json()
        await client.say("who are you?")
        assert "I'm Ada" in (await client.ai_reply())[-1]["text"], "same socket, no restart"
        await owner.patch(f"/api/personas/{ada['id']}", json={"name": "Ada Lovelace"})
        await client.say("who are you?")
        assert "I'm Ada Lovelace" in (await client.ai_reply())[-1]["text"]
    async with httpx.AsyncClient(base_url=hub.http) as http:
        bundle = (await http.get(f"/widget/{tenant.id}/widget.js")).text
    assert '"assistant":"Ada Lovelace"' in bundle, "the next page view's widget shows the active persona's name"


async def test_a_persona_changed_on_one_node_speaks_on_the_other_within_seconds(
    shared_settings: Settings,
) -> None:
    async with two_hubs(shared_settings) as (node_a, node_b):
        tenant = await node_a.tenant()
        async with visitor(node_b.ws, tenant.id) as on_b, await owner_client(node_a, tenant.id) as owner_on_a:
            await on_b.say("who are you?")
            assert "I'm Bob" in (await on_b.ai_reply())[-1]["text"]
            created = await owner_on_a.post("/api/personas", json={**PERSONA, "active": True})
            assert created.status_code == 201
            # Node A forgets its cached persona at once; node B's lasts at most persona_ttl_s.
            await asyncio.sleep(TenantMeter.persona_ttl_s)
            await on_b.say("who are you?")
            assert "I'm Ada" in (await on_b.ai_reply())[-1]["text"], "node B answers as Ada, no restart"
