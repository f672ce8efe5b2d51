"""Mission Control's Mentions inbox in Chromium: a colleague mentions an agent whose Mission Control is closed; the
agent opens it later and finds the mention waiting, unread and counted; opening it shows the conversation and
reads it, for good (a reload keeps it read). Reading in one tab reads it in the person's other tabs, live, in
English and in Polish. Screenshots at 1280 and 360 px go to HUB_SHOTS_DIR when it is set."""

from __future__ import annotations

import re

from playwright.async_api import expect

from hub.store.models import Tenant
from tests.agents import agent_account, login
from tests.browser import Chromium
from tests.conftest import RunningHub
from tests.test_dashboard_browser import log_in
from tests.test_mentions import conversation, note
from tests.test_notes import Staff, staff
from tests.test_notes_browser import SIZES, shoot


async def colleague(hub: RunningHub, tenant: Tenant, name: str) -> tuple[Staff, str]:
    """A staff member as the API sees them, and their email to log in with in a browser."""
    email = await agent_account(hub.node.engine, tenant.id, name)
    body = await login(hub.http, email)
    return Staff(body["user"]["id"], name, body["token"]), email


async def test_a_mention_made_while_the_agent_was_away_waits_unread_and_stays_read_once_opened(
    hub: RunningHub, chromium: Chromium
) -> None:
    tenant = await hub.tenant()
    anna, anna_email = await colleague(hub, tenant, "Anna")
    piotr, piotr_email = await colleague(hub, tenant, "Piotr")
    errors: list[str] = []
    async with chromium() as browser:
        for size, viewport in SIZES.items():
            session_id = await conversation(hub, tenant, f"My parcel never came ({size})")
            await note(hub, anna, session_id, f"@Piotr the courier lost it, please call them ({size})", piotr)

            page = await (await browser.new_context(viewport=viewport)).new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            await log_in(page, hub, piotr_email)  # Piotr's Mission Control was closed when Anna wrote
            count = page.locator("#mentions-count")
            await expect(count).to_have_text("1")
            toggle = page.get_by_role("button", name="Mentions, 1 unread")
            await expect(toggle).to_have_attribute("aria-expanded", "false")
            if size == "phone":  # by keyboard
                await toggle.focus()
                await page.keyboard.press("Enter")
            else:
                await toggle.click()
            panel = page.get_by_role("region", name="You were mentioned in these notes")
            await expect(panel).to_be_visible()
            entries = panel.locator(".mention-entry")
            await expect(entries).to_have_count(2 if size == "phone" else 1)
            entry = entries.first
            await expect(entry).to_contain_text("Unread")
            await expect(entry).to_contain_text(f"Anna mentioned you · Visitor {session_id[-6:]}")
            await expect(entry).to_contain_text(f"please call them ({size})")
            if size == "phone":  # the desktop round's mention is there too, read
                await expect(entries.nth(1)).not_to_contain_text("Unread")
                await expect(entries.nth(1)).to_contain_text("(desktop)")
            await shoot(page, f"mentions-unread-{size}")
            if size == "phone":
                await page.keyboard.press("Tab")  # past "Mark all read" to the newest entry
                await page.keyboard.press("Tab")
                await expect(entry).to_be_focused()
                await page.keyboard.press("Enter")
            else:
                await entry.click()
            await expect(page.locator("#conversation")).to_be_visible()
            await expect(page.locator("#conversation-title")).to_have_text(f"Visitor {session_id[-6:]}")
            await expect(page.locator("#transcript li.note")).to_contain_text(f"please call them ({size})")
            await expect(panel).to_be_hidden()
            await expect(count).to_be_hidden()
            await expect(page.get_by_role("button", name="Mentions", exact=True)).to_be_visible()
            await shoot(page, f"mentions-opened-{size}")

            await page.reload()
            await expect(page.locator("#connection")).to_have_text("Connected")
            await page.get_by_role("button", name="Mentions", exact=True).click()
            await expect(entries).to_have_count(2 if size == "phone" else 1)
            await expect(entries.first).to_contain_text(f"please call them ({size})")
            await expect(entries.first).not_to_contain_text("Unread")
            await expect(count).to_be_hidden()
            await shoot(page, f"mentions-read-after-reload-{size}")
            await page.context.close()

        page = await (await browser.new_context(viewport=SIZES["phone"])).new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        await log_in(page, hub, anna_email)  # the author is in nobody's inbox for her own notes
        await page.get_by_role("button", name="Mentions", exact=True).click()
        await expect(page.get_by_text("Nobody has mentioned you yet.")).to_be_visible()
        await expect(page.get_by_role("button", name="Mark all read")).to_be_hidden()
        await shoot(page, "mentions-none-phone")
        await page.keyboard.press("Escape")
        await expect(page.locator("#mentions-panel")).to_be_hidden()
        await expect(page.get_by_role("button", name="Mentions", exact=True)).to_be_focused()
    assert errors == []


async def test_reading_mentions_in_one_tab_reads_them_in_the_persons_other_tabs(
    hub: RunningHub, chromium: Chromium
) -> None:
    tenant = await hub.tenant()
    anna = await staff(hub, tenant, "Anna")
    piotr, piotr_email = await colleague(hub, tenant, "Piotr")
    first, second = await conversation(hub, tenant, "Gdzie paczka?"), await conversation(hub, tenant, "Zwrot")
    errors: list[str] = []
    async with chromium() as browser:
        context = await browser.new_context(viewport=SIZES["desktop"])
        one = await context.new_page()
        await log_in(one, hub, piotr_email)
        await one.goto(f"{hub.http}/mission-control?lang=pl")  # the same person, in Polish, in two tabs
        two = await context.new_page()
        await two.goto(f"{hub.http}/mission-control")
        for page in (one, two):
            page.on("pageerror", lambda error: errors.append(str(error)))
            await expect(page.locator("#connection")).to_have_text("Połączono")
            await expect(page.get_by_role("button", name="Wzmianki", exact=True)).to_be_visible()

        await note(hub, anna, first, "@Piotr zadzwoń do kuriera", piotr)
        await note(hub, anna, second, "@Piotr zwrot zatwierdzony", piotr)
        for page in (one, two):  # live, while both are open
            await expect(page.locator("#mentions-count")).to_have_text("2")
            await expect(page.get_by_role("button", name="Wzmianki, nieprzeczytane: 2")).to_be_visible()

        await one.get_by_role("button", name="Wzmianki, nieprzeczytane: 2").click()
        await one.locator(".mention-entry").filter(has_text="zwrot zatwierdzony").click()
        await expect(one.locator("#conversation-title")).to_have_text(f"Odwiedzający {second[-6:]}")
        for page in (one, two):
            await expect(page.locator("#mentions-count")).to_have_text("1")
        await two.get_by_role("button", name="Wzmianki, nieprzeczytane: 1").click()
        read = two.locator(".mention-entry").filter(has_text="zwrot zatwierdzony")
        await expect(read).not_to_have_class(re.compile("unread-mention"))
        await expect(two.locator(".mention-entry").filter(has_text="zadzwoń")).to_contain_text("Nieprzeczytana")
        await shoot(two, "mentions-other-tab-pl-desktop")
        await two.get_by_role("button", name="Oznacz wszystkie jako przeczytane").click()
        await expect(two.get_by_role("status").filter(has_text="Wszystkie wzmianki są oznaczone")).to_be_attached()
        for page in (one, two):
            await expect(page.locator("#mentions-count")).to_be_hidden()
            await expect(page.get_by_role("button", name="Wzmianki", exact=True)).to_be_visible()
        await one.get_by_role("button", name="Wzmianki", exact=True).click()
        await expect(one.locator(".mention-entry.unread-mention")).to_have_count(0)
        await expect(one.locator(".mention-entry")).to_have_count(2)
        await one.set_viewport_size(SIZES["phone"])
        await shoot(one, "mentions-all-read-pl-phone")
        await context.close()
    async with piotr.client(hub) as http:
        assert (await http.get("/api/mentions")).json()["unread"] == 0
    assert errors == []


async def test_older_mentions_load_a_page_at_a_time_and_mark_all_read_reads_them_all(
    hub: RunningHub, chromium: Chromium
) -> None:
    tenant = await hub.tenant()
    anna = await staff(hub, tenant, "Anna")
    piotr, piotr_email = await colleague(hub, tenant, "Piotr")
    session_id = await conversation(hub, tenant)
    for number in range(1, 24):
        await note(hub, anna, session_id, f"@Piotr question {number:02d}", piotr)
    async with chromium() as browser:
        page = await (await browser.new_context(viewport=SIZES["desktop"])).new_page()
        await log_in(page, hub, piotr_email)
        await page.get_by_role("button", name="Mentions, 23 unread").click()
        entries = page.locator(".mention-entry")
        await expect(entries).to_have_count(20)
        await expect(entries.first).to_contain_text("question 23")
        await page.get_by_role("button", name="Older mentions").click()
        await expect(entries).to_have_count(23)
        await expect(entries.last).to_contain_text("question 01")
        await expect(page.get_by_role("button", name="Older mentions")).to_be_hidden()
        await page.get_by_role("button", name="Mark all read").click()
        await expect(page.locator(".mention-entry.unread-mention")).to_have_count(0)
        await expect(page.get_by_role("button", name="Mentions", exact=True)).to_be_visible()
        await expect(entries.first).to_be_focused()  # where the vanished button's focus went
        await page.reload()
        await expect(page.locator("#connection")).to_have_text("Connected")
        await expect(page.locator("#mentions-count")).to_be_hidden()
    async with piotr.client(hub) as http:
        assert (await http.get("/api/mentions")).json()["unread"] == 0
