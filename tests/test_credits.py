"""AI credits: one per AI reply, counted per month against the plan; when they run out the AI stops,
the visitor is told, the conversation goes to people and agents are alerted."""

from __future__ import annotations

import copy

import httpx

from tests.agents import agent_account, agent_socket, login
from tests.conftest import RunningHub, is_ai_message, visitor
from tests.test_pricebook import V1_PLANS, platform_admin_token


async def test_running_out_of_credits_hands_the_conversation_to_people(hub: RunningHub) -> None:
    plans = copy.deepcopy(V1_PLANS)
    plans[0]["ai_credits_month"] = 2  # starter: two AI replies a month
    admin = await platform_admin_token(hub)
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {admin}"}) as client:
        version = (await client.post("/api/admin/pricebook/versions", json={"plans": plans})).json()["version"]
        assert (await client.post(f"/api/admin/pricebook/versions/{version}/publish")).status_code == 200
    tenant = await hub.tenant()
    owner = (await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Olga", "owner")))["token"]
    async with (
        httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {owner}"}) as portal,
        agent_socket(hub.ws, token=owner) as agent,
        visitor(hub.ws, tenant.id) as client,
    ):
        for question in ("hello", "who are you?"):
            await client.say(question)
            await client.ai_reply()
        usage = (await portal.get("/api/usage")).json()
        assert (usage["ai_credits_used"], usage["ai_credits_included"], usage["exhausted"]) == (2, 2, True)
        assert usage["unit"] == "one AI reply"

        await client.say("and what are your opening hours?")
        frames = await client.until(lambda f: f["type"] == "message" and f["role"] == "system")
        assert "a person from the team will answer you here" in frames[-1]["text"]
        assert not any(is_ai_message(f) or f["type"] == "token" for f in frames)
        notice = await agent.seen(lambda f: f["type"] == "notice")
        assert notice["code"] == "credits_exhausted" and notice["session_id"] == client.ready["session_id"]
        patch = await agent.seen(lambda f: f["type"] == "session" and f["session"].get("mode") == "human")
        assert patch["session"]["id"] == client.ready["session_id"]

        await client.say("hello?")
        await client.until(lambda f: f["type"] == "message" and f["text"] == "hello?")
        await agent.command({"type": "takeover", "session_id": client.ready["session_id"]})
        await agent.command({"type": "message", "session_id": client.ready["session_id"], "text": "Olga here!"})
        frames = await client.until(lambda f: f["type"] == "message" and f["role"] == "agent")
        assert not any(is_ai_message(f) for f in frames), "no AI reply once the credits are gone"
        assert (await portal.get("/api/usage")).json()["ai_credits_used"] == 2
