"""Display names: a staff member renames themself (``PATCH /api/auth/me``), and visitors read the new
name on that person's next reply and join, on every node; bad names are refused; tenants stay apart."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from hub.settings import Settings
from tests.accounts import create_user
from tests.agents import PASSWORD, agent_account, agent_socket, login
from tests.browser import Chromium
from tests.conftest import RunningHub, two_hubs, visitor
from tests.test_dashboard_browser import log_in


def is_agent_message(frame: dict[str, Any]) -> bool:
    return frame["type"] == "message" and frame["role"] == "agent"


async def rename(http: str, token: str, body: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=http) as client:
        return await client.patch("/api/auth/me", json=body, headers={"Authorization": f"Bearer {token}"})


async def test_an_agent_who_renames_themself_signs_the_next_reply_and_join_with_the_new_name_on_every_node(
    shared_settings: Settings,
) -> None:
    async with two_hubs(shared_settings) as (node_a, node_b):
        tenant = await node_a.tenant()
        email = await agent_account(node_a.node.engine, tenant.id, "Alex")
        token = str((await login(node_a.http, email))["token"])
        # Alex's Mission Control is on node A; the rename is asked of node B.
        async with visitor(node_a.ws, tenant.id) as client, agent_socket(node_a.ws, token=token) as alex:
            await client.say("hello")
            await client.until(lambda f: f["type"] == "message" and f["role"] == "visitor")  # stored
            session_id = client.ready["session_id"]
            assert (await alex.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
            await alex.command({"type": "message", "session_id": session_id, "text": "Hi!"})
            assert (await client.until(is_agent_message))[-1]["author"] == "Alex"

            response = await rename(node_b.http, token, {"name": "  Alex from Acme Test "})
            assert response.status_code == 200, response.text
            assert response.json()["name"] == "Alex from Acme Test"
            renamed = await alex.seen(lambda f: f["type"] == "renamed")
            assert renamed == {"type": "renamed", "agent_id": response.json()["id"], "name": "Alex from Acme Test"}

            answer = await alex.command({"type": "message", "session_id": session_id, "text": "Still here."})
            assert answer["type"] == "ok"  # the claim taken under the old name is still this agent's
            assert (await client.until(is_agent_message))[-1]["author"] == "Alex from Acme Test"
            await alex.command({"type": "handback", "session_id": session_id})
            await alex.command({"type": "takeover", "session_id": session_id})
            await client.until(lambda f: f["type"] == "message" and f["text"] == "Alex from Acme Test joined the chat")

        async with httpx.AsyncClient(base_url=node_a.http) as http:
            me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["name"] == "Alex from Acme Test"
        async with agent_socket(node_b.ws, token=token) as again:
            assert again.ready["agent"]["name"] == "Alex from Acme Test"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 81},
        {"name": "Alex\nfrom Acme"},
        {"name": "Alex\u0000"},
        {"name": 5},
        [],
    ],
)
async def test_a_bad_display_name_is_a_400_with_the_error_shape(hub: RunningHub, body: Any) -> None:
    tenant = await hub.tenant()
    token = str((await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Alex")))["token"])
    response = await rename(hub.http, token, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["message"]
    async with httpx.AsyncClient(base_url=hub.http) as http:
        me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["name"] == "Alex"


async def test_renaming_needs_a_login(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as http:
        response = await http.patch("/api/auth/me", json={"name": "Mallory"})
    assert response.status_code == 401 and response.json()["error"]["code"]


async def test_a_rename_touches_only_the_caller_and_never_reaches_another_tenant(hub: RunningHub) -> None:
    shop_a, shop_b = await hub.tenant(), await hub.tenant()
    alex = await agent_account(hub.node.engine, shop_a.id, "Alex")
    anna = await agent_account(hub.node.engine, shop_a.id, "Anna")
    bea = await agent_account(hub.node.engine, shop_b.id, "Bea")
    tokens = {email: str((await login(hub.http, email))["token"]) for email in (alex, anna, bea)}
    async with (
        agent_socket(hub.ws, token=tokens[anna]) as anna_socket,
        agent_socket(hub.ws, token=tokens[bea]) as bea_socket,
    ):
        assert (await rename(hub.http, tokens[alex], {"name": "Alex from Shop A"})).status_code == 200
        seen = await anna_socket.seen(lambda f: f["type"] == "renamed")  # a colleague hears of it
        assert seen["name"] == "Alex from Shop A"
        with pytest.raises(asyncio.TimeoutError):
            await bea_socket.seen(lambda f: f["type"] == "renamed", timeout=0.5)
    names = {}
    for email in (alex, anna, bea):
        async with httpx.AsyncClient(base_url=hub.http) as http:
            me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens[email]}"})
        names[email] = me.json()["name"]
    assert names == {alex: "Alex from Shop A", anna: "Anna", bea: "Bea"}


async def test_an_agent_renames_themself_on_your_profile_and_the_visitor_reads_it_on_the_next_reply(
    hub: RunningHub, chromium: Chromium
) -> None:
    tenant = await hub.tenant()
    email = await agent_account(hub.node.engine, tenant.id, "anna")
    async with chromium() as browser, visitor(hub.ws, tenant.id) as client:
        await client.say("hello")
        await client.until(lambda f: f["type"] == "message" and f["role"] == "visitor")
        session_id = client.ready["session_id"]
        errors: list[str] = []
        desk = await (await browser.new_context()).new_page()
        desk.on("pageerror", lambda error: errors.append(str(error)))
        await log_in(desk, hub, email)
        await desk.locator(f'li.session[data-session-id="{session_id}"]').click()
        await desk.get_by_role("button", name="Take over").click()
        await client.until(lambda f: f["type"] == "message" and f["text"] == "anna joined the chat")

        async with desk.context.expect_page() as opened:
            await desk.get_by_role("link", name="Your profile").click(modifiers=["Control"])  # a new tab
        portal = await opened.value
        portal.on("pageerror", lambda error: errors.append(str(error)))
        await expect(portal).to_have_url(re.compile("/portal/profile$"))
        name = portal.get_by_label("Name")
        await expect(name).to_have_value("anna")
        await name.fill("x" * 81)  # the field stops at 80; the API says why when a page does not
        await expect(name).to_have_value("x" * 80)
        await name.fill("   ")
        await portal.get_by_role("button", name="Save").click()
        await expect(portal.get_by_role("alert")).to_contain_text("name")
        await name.fill("Anna from Acme Test")
        await portal.get_by_role("button", name="Save").click()
        await expect(portal.get_by_role("status")).to_have_text(
            "Saved. Visitors see “Anna from Acme Test” from your next message on."
        )
        await expect(portal.locator("#me")).to_have_text("Anna from Acme Test")
        await expect(desk.locator("#me")).to_have_text("Anna from Acme Test")  # Mission Control heard of it

        await desk.get_by_label("Reply", exact=True).fill("Hi, how can I help?")
        await desk.get_by_label("Reply", exact=True).press("Enter")
        reply = (await client.until(is_agent_message))[-1]
        assert reply["text"] == "Hi, how can I help?" and reply["author"] == "Anna from Acme Test"
        await expect(desk.locator(".msg.agent .who")).to_have_text("Anna from Acme Test")
    assert errors == []


async def test_a_customer_account_has_no_display_name_to_change(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    await create_user(
        hub.node.engine,
        tenant_id=tenant.id,
        email="buyer@shop.example.com",
        password=PASSWORD,
        role="customer",
        kind="customer",
    )
    async with httpx.AsyncClient(base_url=hub.http) as http:
        logged = await http.post(
            "/api/customers/auth/login", json={"email": "buyer@shop.example.com", "password": PASSWORD}
        )
        token = logged.json()["token"]
    response = await rename(hub.http, token, {"name": "Mallory"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
