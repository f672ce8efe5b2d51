"""Analytics: conversations per day, AI alone vs taken over, median time to first token and to first
agent reply, credits used vs included; a tenant's own and the platform's overview; a portal chart page."""

from __future__ import annotations

import httpx

from tests.agents import agent_account, agent_socket, login
from tests.conftest import RunningHub, visitor
from tests.test_pricebook import platform_admin_token


async def test_business_metrics_and_platform_overview(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    owner = str((await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Olga", "owner")))["token"])
    async with visitor(hub.ws, tenant.id) as first:
        await first.say("hello")
        await first.ai_reply()
    async with visitor(hub.ws, tenant.id) as second, agent_socket(hub.ws, token=owner) as agent:
        await second.say("I need a person")
        await second.ai_reply()
        session_id = second.ready["session_id"]
        await agent.command({"type": "takeover", "session_id": session_id})
        await second.say("are you there?")
        await second.until(lambda f: f["type"] == "message" and f["text"] == "are you there?")
        await agent.command({"type": "message", "session_id": session_id, "text": "Yes, Olga here."})
        await second.until(lambda f: f["type"] == "message" and f["role"] == "agent")
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {owner}"}) as client:
        metrics = (await client.get("/api/metrics/business", params={"days": 7})).json()
        assert (metrics["conversations"], metrics["ai_only"], metrics["taken_over"]) == (2, 1, 1)
        assert metrics["ai_only_share"] == 0.5 and len(metrics["per_day"]) == 7
        assert metrics["per_day"][-1]["conversations"] == 2
        assert isinstance(metrics["median_first_token_ms"], int) and metrics["median_first_token_ms"] >= 0
        assert metrics["median_first_agent_reply_s"] is not None and metrics["median_first_agent_reply_s"] >= 0
        assert metrics["credits"] == {"plan": "starter", "used": 2, "included": 15000}
        assert (await client.get("/api/metrics/business", params={"days": 0})).status_code == 400
        assert (await client.get("/api/analytics/overview")).status_code == 403, "owners see their own only"
        page = await client.get("/portal/analytics")
        assert page.status_code == 200 and '<svg id="per-day-chart"' in page.text and 'id="credits-chart"' in page.text
    admin = await platform_admin_token(hub)
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {admin}"}) as client:
        overview = (await client.get("/api/analytics/overview")).json()
    assert overview["conversations"] >= 2 and overview["tenants"] >= 2
    mine = next(entry for entry in overview["credits"] if entry["business_id"] == tenant.business_id)
    assert (mine["used"], mine["included"]) == (2, 15000)
