"""Webhooks: signed like Standard Webhooks, stored before delivery, retried until the receiver is back
(across a hub restart), each delivered by one node, refused for private receivers unless allowed."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.settings import Settings
from hub.store.webhooks import EVENTS
from tests.agents import agent_account, agent_socket, login
from tests.conftest import RunningHub, serve_hub, two_hubs, visitor
from tests.services import free_port
from tests.webhook_receiver import receiver

FAST_RETRIES = (0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3)


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, webhooks_allow_private=True)


@pytest.fixture
async def hook_hub(hook_settings: Settings) -> AsyncIterator[RunningHub]:
    async with serve_hub(hook_settings) as running:
        running.node.webhooks.backoff_s = FAST_RETRIES
        yield running


async def owner_token(hub: RunningHub, tenant_id: str) -> str:
    return str((await login(hub.http, await agent_account(hub.node.engine, tenant_id, "Olga", "owner")))["token"])


async def add_endpoint(hub: RunningHub, token: str, url: str, events: list[str] | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as client:
        created = await client.post("/api/webhooks", json={"url": url, "events": events or list(EVENTS)})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    assert body["secret"].startswith("whsec_")
    return body


async def test_conversation_events_arrive_signed(hook_hub: RunningHub) -> None:
    hub = hook_hub
    tenant = await hub.tenant()
    token = await owner_token(hub, tenant.id)
    async with receiver() as hooks:
        endpoint = await add_endpoint(hub, token, hooks.url)
        hooks.secret = endpoint["secret"]
        async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=token) as agent:
            await client.say("hello")
            await client.ai_reply()
            session_id = client.ready["session_id"]
            await hooks.wait_for(lambda got: len([e for e in got if e["type"] == "message.created"]) >= 2)
            for action in ("takeover", "handback", "close"):
                assert (await agent.command({"type": action, "session_id": session_id}))["type"] == "ok"
            # Deliveries run in parallel: session.closed may arrive before session.handback.
            lifecycle = {"session.takeover", "session.handback", "session.closed"}
            await hooks.wait_for(lambda got: lifecycle <= {e["type"] for e in got})
    assert hooks.rejected == 0, "every signature verifies with the endpoint's secret"
    (created,) = hooks.of_type("session.created")
    assert created["data"] == {"session_id": session_id}
    # Deliveries run in parallel, so arrival order is not guaranteed: receivers order by the seq.
    stored = sorted((event["data"]["message"] for event in hooks.of_type("message.created")), key=lambda m: m["seq"])
    assert [m["role"] for m in stored][:2] == ["visitor", "ai"] and all(m["role"] != "system" for m in stored)
    takeover = hooks.of_type("session.takeover")[0]["data"]
    assert takeover["agent"]["name"] == "Olga" and takeover["forced"] is False
    assert hooks.of_type("session.handback") and hooks.of_type("session.closed")


async def test_a_receiver_that_is_down_gets_the_event_later_even_across_a_hub_restart(
    hook_settings: Settings,
) -> None:
    port = free_port()
    async with serve_hub(hook_settings) as hub:
        hub.node.webhooks.backoff_s = FAST_RETRIES
        tenant = await hub.tenant()
        token = await owner_token(hub, tenant.id)
        endpoint = await add_endpoint(hub, token, f"http://127.0.0.1:{port}/hooks/bob", ["session.created"])
        async with visitor(hub.ws, tenant.id) as client:
            await client.say("anyone there?")
            await client.ai_reply()
        async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as http:
            for _ in range(100):
                (delivery,) = (await http.get(f"/api/webhooks/{endpoint['id']}/deliveries")).json()["deliveries"]
                if delivery["attempts"] >= 2:
                    break
                await asyncio.sleep(0.1)
        assert delivery["status"] == "pending" and "ClientConnectorError" in delivery["last_error"]
    async with receiver(port, endpoint["secret"]) as hooks, serve_hub(hook_settings) as hub:
        hub.node.webhooks.backoff_s = FAST_RETRIES
        await hooks.wait_for(lambda got: len(got) == 1)
        assert hooks.received[0]["_id"] == delivery["id"], "the same event, the same webhook-id"
        async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as http:
            for _ in range(50):
                (done,) = (await http.get(f"/api/webhooks/{endpoint['id']}/deliveries")).json()["deliveries"]
                if done["status"] == "delivered":
                    break
                await asyncio.sleep(0.1)
            assert done["status"] == "delivered" and done["attempts"] >= 3 and done["last_status"] == 200
            again = await http.post(f"/api/webhooks/{endpoint['id']}/deliveries/{done['id']}/redeliver")
            assert again.status_code == 202
        await hooks.wait_for(lambda got: len(got) == 2)
        assert [event["_id"] for event in hooks.received] == [done["id"], done["id"]]


async def test_private_receivers_are_refused_unless_allowed(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    token = await owner_token(hub, tenant.id)
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as http:
        for url in ("http://127.0.0.1:9/x", "http://10.0.0.5/x", "http://[::1]/x", "http://169.254.169.254/latest"):
            refused = await http.post("/api/webhooks", json={"url": url, "events": ["session.created"]})
            assert refused.status_code == 400 and "private" in refused.json()["error"]["message"], url
    async with receiver() as hooks:
        # A name that resolves inside is caught where it matters: on the address the delivery would use.
        endpoint = await add_endpoint(hub, token, hooks.url.replace("127.0.0.1", "localhost"), ["session.created"])
        hooks.secret = endpoint["secret"]
        async with visitor(hub.ws, tenant.id) as client:
            await client.say("hi")
            await client.ai_reply()
        async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as http:
            for _ in range(50):
                deliveries = (await http.get(f"/api/webhooks/{endpoint['id']}/deliveries")).json()["deliveries"]
                if deliveries and deliveries[0]["attempts"]:
                    break
                await asyncio.sleep(0.1)
        assert "private or internal address" in deliveries[0]["last_error"]
        assert hooks.received == [] and hooks.rejected == 0, "the receiver was never contacted"


async def test_endpoints_are_validated_limited_by_the_plan_and_private_to_their_tenant(hook_hub: RunningHub) -> None:
    hub = hook_hub
    tenant, other = await hub.tenant(), await hub.tenant()
    token, other_token = await owner_token(hub, tenant.id), await owner_token(hub, other.id)
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as http:
        for body in (
            {"url": "ftp://example.com/x", "events": ["session.created"]},
            {"url": "https://user:pw@example.com/x", "events": ["session.created"]},
            {"url": "https://example.com/x", "events": []},
            {"url": "https://example.com/x", "events": ["session.exploded"]},
            {"url": "https://example.com/x", "events": ["session.created"], "description": 5},
        ):
            assert (await http.post("/api/webhooks", json=body)).status_code == 400, body
        first = await http.post("/api/webhooks", json={"url": "https://example.com/a", "events": ["session.created"]})
        assert first.status_code == 201
        second = await http.post("/api/webhooks", json={"url": "https://example.com/b", "events": ["session.created"]})
        assert second.status_code == 409 and second.json()["error"]["code"] == "integration_limit"
        endpoint_id = first.json()["id"]
        changed = await http.patch(f"/api/webhooks/{endpoint_id}", json={"disabled": True})
        assert changed.status_code == 200 and changed.json()["disabled"] is True
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {other_token}"}) as http:
        assert (await http.get("/api/webhooks")).json()["webhooks"] == []
        for method in ("GET", "PATCH", "DELETE"):
            kwargs: dict[str, Any] = {"json": {"disabled": False}} if method == "PATCH" else {}
            assert (await http.request(method, f"/api/webhooks/{endpoint_id}", **kwargs)).status_code == 404
        assert (await http.get(f"/api/webhooks/{endpoint_id}/deliveries")).status_code == 404


async def test_each_event_is_delivered_by_exactly_one_of_two_nodes(
    shared_settings: Settings,
) -> None:
    async with (
        receiver() as hooks,
        two_hubs(shared_settings.with_overrides(webhooks_allow_private=True, ai_provider="none")) as (node_a, node_b),
    ):
        tenant = await node_a.tenant()
        token = await owner_token(node_a, tenant.id)
        endpoint = await add_endpoint(node_a, token, hooks.url, ["message.created"])
        hooks.secret = endpoint["secret"]
        for node in (node_a, node_b):
            node.node.webhooks.forget(tenant.id)
        async with visitor(node_a.ws, tenant.id) as on_a, visitor(node_b.ws, tenant.id) as on_b:
            for number in range(20):
                await on_a.say(f"a{number}")
                await on_b.say(f"b{number}")
        await hooks.wait_for(lambda got: len(got) >= 40, timeout=20)
        await asyncio.sleep(1.5)  # both dispatchers keep polling: nothing may come twice
    counts = Counter(event["_id"] for event in hooks.received)
    assert len(counts) == 40 and set(counts.values()) == {1}
