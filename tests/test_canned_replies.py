"""Canned replies: owners and admins manage a tenant's ready answers; every agent of the tenant reads
them (Mission Control inserts them with ``/``); bad bodies are 400s; tenants never see each other's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from hub.store.canned import MAX_PER_TENANT, create_canned
from tests.agents import PASSWORD, agent_account, login
from tests.browser import Chromium
from tests.conftest import RunningHub, visitor
from tests.test_dashboard_browser import log_in


async def client_for(hub: RunningHub, tenant_id: str, name: str, role: str) -> httpx.AsyncClient:
    token = str((await login(hub.http, await agent_account(hub.node.engine, tenant_id, name, role)))["token"])
    return httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"})


async def test_an_owner_adds_changes_and_deletes_canned_replies_and_agents_read_them(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with (
        await client_for(hub, tenant.id, "Olga", "owner") as owner,
        await client_for(hub, tenant.id, "Anna", "agent") as agent,
    ):
        made = await owner.post("/api/canned-replies", json={"title": " Order number ", "text": "Your order number?"})
        assert made.status_code == 201, made.text
        reply = made.json()
        assert reply["title"] == "Order number" and reply["text"] == "Your order number?"
        await owner.post("/api/canned-replies", json={"title": "Greeting", "text": "Hi, I'm here to help!"})
        listed = (await agent.get("/api/canned-replies")).json()["canned_replies"]
        assert [item["title"] for item in listed] == ["Greeting", "Order number"]

        changed = await owner.patch(f"/api/canned-replies/{reply['id']}", json={"text": "Could you share it?"})
        assert changed.status_code == 200 and changed.json()["title"] == "Order number"
        assert changed.json()["text"] == "Could you share it?"

        refused = await agent.post("/api/canned-replies", json={"title": "Mine", "text": "x"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert (await agent.delete(f"/api/canned-replies/{reply['id']}")).status_code == 403

        assert (await owner.delete(f"/api/canned-replies/{reply['id']}")).status_code == 204
        assert (await owner.delete(f"/api/canned-replies/{reply['id']}")).status_code == 404
        listed = (await agent.get("/api/canned-replies")).json()["canned_replies"]
        assert [item["title"] for item in listed] == ["Greeting"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": "Hi"},
        {"title": "", "text": "x"},
        {"title": "   ", "text": "x"},
        {"title": "x" * 81, "text": "x"},
        {"title": "Hi", "text": "x" * 2001},
        {"title": "Hi", "text": 5},
        [],
    ],
)
async def test_a_bad_canned_reply_is_a_400_with_the_error_shape(hub: RunningHub, body: Any) -> None:
    tenant = await hub.tenant()
    async with await client_for(hub, tenant.id, "Olga", "owner") as owner:
        response = await owner.post("/api/canned-replies", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_input" and response.json()["error"]["message"]
        assert (await owner.get("/api/canned-replies")).json()["canned_replies"] == []


async def test_a_tenant_never_sees_changes_or_deletes_another_tenants_canned_replies(hub: RunningHub) -> None:
    shop_a, shop_b = await hub.tenant(), await hub.tenant()
    async with (
        await client_for(hub, shop_a.id, "Alex", "owner") as owner_a,
        await client_for(hub, shop_b.id, "Bea", "owner") as owner_b,
    ):
        reply = (await owner_a.post("/api/canned-replies", json={"title": "Secret", "text": "A's words"})).json()
        assert (await owner_b.get("/api/canned-replies")).json()["canned_replies"] == []
        assert (await owner_b.patch(f"/api/canned-replies/{reply['id']}", json={"text": "B"})).status_code == 404
        assert (await owner_b.delete(f"/api/canned-replies/{reply['id']}")).status_code == 404
        other = await owner_b.get("/api/canned-replies", params={"business_id": shop_a.business_id})
        assert other.status_code == 403
        assert (await owner_a.get("/api/canned-replies")).json()["canned_replies"][0]["text"] == "A's words"


async def test_an_owner_adds_canned_replies_in_the_portal_and_an_agent_inserts_one_with_slash(
    hub: RunningHub, chromium: Chromium
) -> None:
    tenant = await hub.tenant()
    owner = await agent_account(hub.node.engine, tenant.id, "Olga", "owner")
    anna = await agent_account(hub.node.engine, tenant.id, "Anna")
    errors: list[str] = []
    async with chromium() as browser:
        portal = await (await browser.new_context()).new_page()
        portal.on("pageerror", lambda error: errors.append(str(error)))
        await portal.goto(f"{hub.http}/portal/login")
        await portal.get_by_label("Email").fill(owner)
        await portal.get_by_label("Password").fill(PASSWORD)
        await portal.get_by_role("button", name="Log in").click()
        await portal.get_by_role("link", name="Canned replies").click()
        await expect(portal.locator("#no-canned")).to_be_visible()
        for title, text in (
            ("Greeting", "Hi, I'm here to help!"),
            ("Order number", "Could you share your order number?"),
            ("Goodbye", "Thanks for chatting with us."),
        ):
            await portal.locator("#canned-title").fill(title)
            await portal.locator("#canned-text").fill(text)
            await portal.get_by_role("button", name="Add canned reply").click()
            await expect(portal.locator(".canned-edit", has=portal.locator(f'input[value="{title}"]'))).to_have_count(1)
        await portal.locator("#canned-title").fill("   ")
        await portal.locator("#canned-text").fill("x")
        await portal.get_by_role("button", name="Add canned reply").click()
        await expect(portal.locator("#canned-error")).to_contain_text("title")
        goodbye = portal.locator(".canned-edit", has=portal.locator('input[value="Goodbye"]'))
        await goodbye.get_by_label("Text").fill("Thanks for chatting with us. Have a great day!")
        await goodbye.get_by_role("button", name="Save").click()
        await expect(portal.get_by_label("Text").nth(0)).to_have_value("Thanks for chatting with us. Have a great day!")
        greeting = portal.locator(".canned-edit", has=portal.locator('input[value="Greeting"]'))
        await greeting.get_by_role("button", name="Delete").click()
        await expect(portal.locator(".canned-edit")).to_have_count(2)

        async with visitor(hub.ws, tenant.id) as client:
            await client.say("where is my parcel?")
            await client.until(lambda f: f["type"] == "message" and f["role"] == "visitor")
            desk = await (await browser.new_context()).new_page()
            desk.on("pageerror", lambda error: errors.append(str(error)))
            await log_in(desk, hub, anna)
            await desk.locator(f'li.session[data-session-id="{client.ready["session_id"]}"]').click()
            await desk.get_by_role("button", name="Take over").click()
            box = desk.get_by_label("Reply", exact=True)
            await box.press_sequentially("Sorry! /")
            options = desk.get_by_role("listbox", name="Canned replies").get_by_role("option")
            await expect(options).to_have_count(2)  # by title: Goodbye, Order number
            await expect(box).to_have_attribute("aria-expanded", "true")
            await box.press_sequentially("ord")
            await expect(options).to_have_count(1)
            await expect(options.first).to_contain_text("Order number")
            await box.press("Enter")  # inserts, does not send
            await expect(box).to_have_value("Sorry! Could you share your order number?")
            await expect(desk.locator("#canned-menu")).to_be_hidden()
            await box.press_sequentially(" /nothing like it")
            await expect(desk.locator("#canned-menu")).to_contain_text("No canned reply matches")
            await box.press("Escape")  # closes the list, stays in the conversation
            await expect(desk.locator("#canned-menu")).to_be_hidden()
            await expect(desk.locator("#conversation")).to_be_visible()
            await box.fill("Sorry! /")
            await box.press("ArrowDown")
            await expect(
                desk.get_by_role("listbox", name="Canned replies").get_by_role("option", selected=True)
            ).to_contain_text("Order number")
            await box.press("Tab")
            await box.press("Enter")  # sends
            reply = await client.until(lambda f: f["type"] == "message" and f["role"] == "agent")
            assert reply[-1]["text"] == "Sorry! Could you share your order number?"
    assert errors == []


async def test_a_tenant_keeps_at_most_200_canned_replies(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    for number in range(MAX_PER_TENANT):
        await create_canned(hub.node.engine, tenant.id, f"Reply {number}", "Hello!")
    async with await client_for(hub, tenant.id, "Olga", "owner") as owner:
        full = await owner.post("/api/canned-replies", json={"title": "One more", "text": "Hello!"})
        assert full.status_code == 409 and full.json()["error"]["code"] == "too_many_canned_replies"
        assert len((await owner.get("/api/canned-replies")).json()["canned_replies"]) == MAX_PER_TENANT


async def test_the_canned_replies_page_is_for_owners_and_admins_and_profile_for_every_staff_member(
    hub: RunningHub,
) -> None:
    tenant = await hub.tenant()
    async with (
        await client_for(hub, tenant.id, "Anna", "agent") as agent,
        await client_for(hub, tenant.id, "Olga", "owner") as owner,
    ):
        refused = await agent.get("/portal/canned")
        assert refused.status_code == 403 and "<nav" in refused.text  # a styled page with a way on
        assert "/portal/profile" in refused.text
        assert (await agent.get("/portal/profile")).status_code == 200
        page = await owner.get("/portal/canned")
        assert page.status_code == 200 and 'id="new-canned"' in page.text
