"""Mission Control in Chromium, after the first version of assignment: a conversation's assignment history in
its header (keyboard, English and Polish, live), a push alert's link or a mention that opens a conversation the
list's filter hides (opened anyway, with a visible hint and a way to show it), and the colleague who held a
conversation hearing that it was transferred away from them. Screenshots at 1280 and 360 px go to
HUB_SHOTS_DIR when it is set."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import expect

from tests.agents import agent_socket
from tests.browser import Chromium
from tests.conftest import RunningHub
from tests.test_assignment_browser import DESKTOP, PHONE, desk, row, shoot, staff, visitors
from tests.test_dashboard_browser import is_system

__all__ = ["visitors"]  # the fixture, used by name


async def test_the_conversation_lists_who_assigned_it_to_whom_and_when_in_english_and_polish(
    hub: RunningHub, chromium: Chromium, visitors: Any
) -> None:
    tenant = await hub.tenant()
    anna, anna_id, _ = await staff(hub, tenant.id, "Anna")
    _, ben_id, ben_token = await staff(hub, tenant.id, "Ben")
    _, _, olga_token = await staff(hub, tenant.id, "Olga", "owner")
    [client] = await visitors(tenant.id, "My invoice is wrong")
    session_id = client.ready["session_id"]
    path = f"/api/chat/sessions/{session_id}"
    note = "Invoice 2291: the VAT rate is wrong, please correct it"
    async with (
        httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {olga_token}"}) as olga,
        httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {ben_token}"}) as ben,
    ):
        await olga.put(f"{path}/assignee", json={"agent_id": ben_id})
        await ben.post(f"{path}/transfer", json={"agent_id": anna_id, "note": note})
        async with chromium() as browser:
            page, errors = await desk(browser, hub, anna)
            await row(page, session_id).click()
            toggle = page.get_by_role("button", name="History")
            await toggle.focus()
            await page.keyboard.press("Enter")
            await expect(toggle).to_have_attribute("aria-expanded", "true")
            panel = page.get_by_role("region", name="Assignment history")
            await expect(panel).to_be_focused()
            items = panel.locator("li")
            await expect(items).to_have_count(2)
            await expect(items.nth(0)).to_contain_text("Assigned to Ben by Olga")
            await expect(items.nth(1)).to_contain_text("Transferred from Ben to Anna (you) by Ben")
            await expect(items.nth(1).locator("q")).to_have_text(note)
            await expect(panel.get_by_role("status")).to_have_text("Changes of assignee: 2")
            await expect(items.nth(0).locator("time")).to_have_text(re.compile(r"\d{1,2}:\d{2}"))
            await shoot(page, "assignment-history-1280")

            # A change made elsewhere while the panel is open joins the list.
            await olga.put(f"{path}/assignee", json={"agent_id": None})
            await expect(items).to_have_count(3)
            await expect(items.nth(2)).to_contain_text("Unassigned from Anna (you) by Olga")
            await page.keyboard.press("Escape")
            await expect(panel).to_be_hidden()
            await expect(toggle).to_be_focused()

            polish, polish_errors = await desk(browser, hub, anna)
            await polish.goto(f"{hub.http}/mission-control?lang=pl")
            await expect(polish.locator("#connection")).to_have_text("Połączono")
            await row(polish, session_id).click()
            await polish.get_by_role("button", name="Historia").click()
            listed = polish.get_by_role("region", name="Historia przypisań").locator("li")
            await expect(listed).to_have_count(3)
            await expect(listed.nth(0)).to_contain_text("Przypisano do: Ben · przez: Olga")
            await expect(listed.nth(1)).to_contain_text("Przekazano od: Ben do: Anna (ty) · przez: Ben")
            await expect(listed.nth(2)).to_contain_text("Usunięto przypisanie (było: Anna (ty)) · przez: Olga")

            phone, phone_errors = await desk(browser, hub, anna, **PHONE)
            await row(phone, session_id).tap()
            await phone.get_by_role("button", name="History").tap()
            await expect(phone.get_by_role("region", name="Assignment history").locator("li")).to_have_count(3)
            await shoot(phone, "assignment-history-360")
            assert await phone.evaluate("document.documentElement.scrollWidth") <= 360
        assert errors == [] and polish_errors == [] and phone_errors == []


async def test_a_push_alert_link_or_a_mention_opens_a_conversation_the_mine_filter_hides_and_says_so(
    hub: RunningHub, chromium: Chromium, visitors: Any
) -> None:
    tenant = await hub.tenant()
    anna, anna_id, _ = await staff(hub, tenant.id, "Anna")
    _, _, ben_token = await staff(hub, tenant.id, "Ben")
    alerted, mentioned = await visitors(tenant.id, "Is anyone there?", "Where is my refund?")
    alert_id, mention_id = alerted.ready["session_id"], mentioned.ready["session_id"]
    async with chromium() as browser:
        for size, options in (("1280", DESKTOP), ("360", PHONE)):
            page, errors = await desk(browser, hub, anna, **options)
            await page.locator(".views").get_by_role("button", name="Mine").click()
            await expect(page.locator("#no-sessions")).to_be_visible()  # nothing is assigned to Anna

            # The link of a push alert (the service worker opens /mission-control#session=<id>).
            await page.evaluate("id => { location.hash = '#session=' + id; }", alert_id)
            await expect(page.locator("#conversation-title")).to_have_text(f"Visitor {alert_id[-6:]}")
            await expect(page.locator("#transcript")).to_contain_text("Is anyone there?")
            hint = page.locator("#outside-view")
            await expect(hint).to_be_visible()
            await expect(hint).to_contain_text("This conversation is not in the list's current filter.")
            await shoot(page, f"outside-filter-{size}")
            await hint.get_by_role("button", name="Show all conversations").click()
            await expect(hint).to_be_hidden()
            await expect(page.locator('.view[data-view="all"]')).to_have_attribute("aria-pressed", "true")
            await expect(row(page, alert_id)).to_be_attached()
            await expect(row(page, alert_id).locator("button")).to_have_attribute("aria-current", "true")
            assert errors == []

            # A mention of Anna in a note on a conversation the filter hides opens it too.
            if size == "360":  # on a phone the conversation covers the list: back to it
                await page.get_by_role("button", name="← Conversations").click()
            await page.locator(".views").get_by_role("button", name="Mine").click()
            async with agent_socket(hub.ws, token=ben_token) as ben:
                answer = await ben.command(
                    {"type": "note", "session_id": mention_id, "text": "@Anna can you look?", "mentions": [anna_id]}
                )
                assert answer["type"] == "ok", answer
            await page.locator("#mentions-toggle").click()
            await page.get_by_role("button", name="Ben mentioned you").first.click()
            await expect(page.locator("#conversation-title")).to_have_text(f"Visitor {mention_id[-6:]}")
            await expect(page.locator("#outside-view")).to_be_visible()
            assert await page.evaluate("document.documentElement.scrollWidth") <= int(size)
            await page.context.close()


async def test_the_colleague_who_held_a_conversation_is_told_it_was_transferred_away_from_them(
    hub: RunningHub, chromium: Chromium, visitors: Any
) -> None:
    tenant = await hub.tenant()
    ben, _, _ = await staff(hub, tenant.id, "Ben")
    _, carl_id, _ = await staff(hub, tenant.id, "Carl")
    _, _, olga_token = await staff(hub, tenant.id, "Olga", "owner")
    [client] = await visitors(tenant.id, "My heater makes a noise")
    session_id = client.ready["session_id"]
    async with chromium() as browser:
        page, errors = await desk(browser, hub, ben)
        await row(page, session_id).click()
        await page.get_by_role("button", name="Take over").click()
        await client.until(lambda f: is_system(f, "Ben joined the chat"))
        await expect(page.locator("#owner")).to_have_text("Owner: Ben (you)")
        phone, phone_errors = await desk(browser, hub, ben, **PHONE)  # Ben's phone, on the same conversation
        await row(phone, session_id).tap()
        await expect(phone.locator("#owner")).to_have_text("Owner: Ben (you)")

        async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {olga_token}"}) as olga:
            moved = await olga.post(
                f"/api/chat/sessions/{session_id}/transfer", json={"agent_id": carl_id, "note": "Carl knows heaters"}
            )
            assert moved.status_code == 200, moved.text
        told = f"Olga transferred Visitor {session_id[-6:]} to Carl: you no longer hold it."
        await expect(page.get_by_role("alert")).to_have_text(told)
        await expect(page.locator("#list-status")).to_have_text(told)
        await expect(page.locator("#owner")).to_have_text("Owner: nobody")
        await expect(page.locator("#assignee")).to_have_text("Assigned to Carl")
        await shoot(page, "transferred-away-1280")
        await expect(phone.get_by_role("alert")).to_have_text(told)
        await shoot(phone, "transferred-away-360")
        assert await phone.evaluate("document.documentElement.scrollWidth") <= 360

        await page.get_by_label("Reply", exact=True).fill("I'm still here")
        await page.get_by_role("button", name="Send").click()
        await expect(page.get_by_role("alert")).to_have_text("Take the conversation over first to reply.")
    assert errors == [] and phone_errors == []
