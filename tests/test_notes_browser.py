"""Mission Control in Chromium: an agent writes a private note that mentions a colleague, whose own Mission
Control (another browser context) alerts them and opens the conversation from the alert; an agent searches
every conversation and opens one from the results. The visitor never sees the note. Screenshots at 1280 and
360 px go to HUB_SHOTS_DIR when it is set."""

from __future__ import annotations

import dataclasses
import os
import uuid
from pathlib import Path

import orjson
from playwright.async_api import Page, expect

from hub.chat.control import Agent
from hub.settings import Settings
from tests.accounts import create_user
from tests.agents import PASSWORD, agent_account, login
from tests.browser import Chromium, arriving_late
from tests.conftest import RunningHub, serve_hub, visitor
from tests.test_dashboard_browser import log_in

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 360, "height": 740}}


async def shoot(page: Page, name: str) -> None:
    folder = os.environ.get("HUB_SHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(folder) / f"{name}.png"))


async def test_a_note_mentioning_a_colleague_alerts_them_in_their_own_mission_control(
    hub: RunningHub, chromium: Chromium
) -> None:
    tenant = await hub.tenant()
    anna = await agent_account(hub.node.engine, tenant.id, "Anna")
    piotr = f"piotr-{uuid.uuid4().hex[:8]}@shop.example.com"
    await create_user(
        hub.node.engine, tenant_id=tenant.id, email=piotr, password=PASSWORD, role="agent", name="Piotr Nowak"
    )
    await agent_account(hub.node.engine, tenant.id, "Olga", "owner")
    errors: list[str] = []
    async with chromium() as browser, visitor(hub.ws, tenant.id) as client:
        await client.say("Where is my parcel? It was due on Monday.")
        await client.ai_reply()
        session_id = client.ready["session_id"]
        for size, viewport in SIZES.items():
            writer = await (await browser.new_context(viewport=viewport)).new_page()
            reader = await (await browser.new_context(viewport=viewport)).new_page()
            for page in (writer, reader):
                page.on("pageerror", lambda error: errors.append(str(error)))
            await log_in(writer, hub, anna)
            await log_in(reader, hub, piotr)
            await writer.locator(f'li.session[data-session-id="{session_id}"]').click()
            await writer.get_by_role("button", name="Note", exact=True).click()
            box = writer.get_by_label("Private note: only your team sees it")
            await expect(box).to_be_focused()
            await box.press_sequentially("Courier says it was lost. @pi")
            options = writer.get_by_role("listbox", name="Mention a colleague").get_by_role("option")
            await expect(options).to_have_count(1)
            await expect(options.first).to_contain_text("Piotr Nowak")
            await expect(box).to_have_attribute("aria-expanded", "true")
            await box.press("Enter")  # inserts the name, does not add the note
            await expect(box).to_have_value("Courier says it was lost. @Piotr Nowak ")
            await box.press_sequentially(f"please call them ({size})")
            await box.press("Enter")
            note = writer.locator("#transcript li.note").filter(has_text=f"({size})")  # the desktop round wrote one
            await expect(note).to_have_count(1)
            await expect(note).to_contain_text(f"Courier says it was lost. @Piotr Nowak please call them ({size})")
            await expect(note.locator(".who")).to_contain_text("Private note by Anna")
            await expect(note.locator("strong.mention")).to_have_text("@Piotr Nowak")
            await expect(box).to_have_value("")
            await shoot(writer, f"notes-written-{size}")

            count = reader.locator("#mentions-count")
            await expect(count).to_have_text("1")
            toggle = reader.get_by_role("button", name="Mentions, 1 unread")
            await toggle.click()
            await expect(toggle).to_have_attribute("aria-expanded", "true")
            entry = reader.get_by_role("button", name="Anna mentioned you").filter(has_text=f"({size})")
            await expect(entry).to_contain_text("Unread")
            await shoot(reader, f"notes-mention-{size}")
            await entry.click()
            await expect(reader.locator("#conversation")).to_be_visible()
            await expect(reader.locator("#conversation-title")).to_have_text(f"Visitor {session_id[-6:]}")
            await expect(reader.locator("#transcript li.note").last).to_contain_text(f"please call them ({size})")
            await expect(reader.locator("#transcript li.msg.visitor")).to_contain_text("Where is my parcel?")
            await expect(count).to_be_hidden()
            await shoot(reader, f"notes-opened-{size}")
            await writer.context.close()
            await reader.context.close()
        await client.send({"type": "ping"})
        seen = await client.until(lambda f: f["type"] == "pong")
        assert "Courier says" not in orjson.dumps(seen).decode(), "the visitor's socket never carries a note"
    assert errors == []


async def test_an_agent_searches_every_conversation_and_opens_one_from_the_results(
    settings: Settings, chromium: Chromium
) -> None:
    async with serve_hub(dataclasses.replace(settings, ai_provider="none")) as hub:
        tenant = await hub.tenant()
        anna_email = await agent_account(hub.node.engine, tenant.id, "Anna")
        anna = await login(hub.http, anna_email)
        writer = hub.node.writer
        polish, english = f"s_pl_{uuid.uuid4().hex[:10]}", f"s_en_{uuid.uuid4().hex[:10]}"
        await writer.append(tenant.id, polish, "visitor", "Dzień dobry, gdzie jest moje zamówienie z Łodzi?")
        await writer.append(
            tenant.id, polish, "agent", "Zamówienia z Łodzi wysyłamy kurierem.", meta={"author": "Anna"}
        )
        await writer.append(tenant.id, english, "visitor", "My order has not arrived yet")
        await hub.node.notes.write(tenant, english, Agent(anna["user"]["id"], "Anna"), "Reship the order with DPD")
        errors: list[str] = []
        async with chromium() as browser:
            for size, viewport in SIZES.items():
                page = await (await browser.new_context(viewport=viewport)).new_page()
                page.on("pageerror", lambda error: errors.append(str(error)))
                await log_in(page, hub, anna_email)
                search = page.get_by_role("searchbox", name="Search conversations")
                await search.fill("zamowieniu lodz")
                await search.press("Enter")
                hits = page.locator("#search-list .search-hit")
                await expect(hits).to_have_count(1)
                await expect(page.locator("#search-status")).to_have_text("Conversations found: 1")
                await expect(hits.first.locator("mark")).to_have_text(["Zamówienia", "Łodzi"])
                await expect(hits.first).to_contain_text("Anna · matching: 2")
                await shoot(page, f"search-results-{size}")

                await search.fill("order")
                await search.press("Enter")
                await expect(hits).to_have_count(1)
                await expect(hits.first).to_contain_text("Private note by Anna")
                await expect(hits.first.locator("mark")).to_have_text(["order"])
                await hits.first.focus()
                await page.keyboard.press("Enter")
                await expect(page.locator("#conversation")).to_be_visible()
                await expect(page.locator("#conversation-title")).to_have_text(f"Visitor {english[-6:]}")
                await expect(page.locator("#transcript li.note")).to_contain_text("Reship the order with DPD")
                await expect(page.locator("#transcript li.msg.visitor")).to_contain_text("My order has not arrived")
                await shoot(page, f"search-opened-{size}")
                if size == "phone":
                    await page.get_by_role("button", name="← Conversations").click()
                await search.fill("!!!")
                await search.press("Enter")
                await expect(page.locator("#search-status")).to_contain_text("Nothing to search for")
                await page.get_by_role("button", name="Clear search").click()
                await expect(page.locator("#search-results")).to_be_hidden()
                await page.context.close()
        assert errors == []


LABELS = {
    "en-US": ("Email", "Password", "Log in", "Search conversations"),
    "pl-PL": ("E-mail", "Hasło", "Zaloguj się", "Szukaj w rozmowach"),
}
SPREAD = {
    "en-US": ("The words are in 2 messages or notes:", "Private note by Anna", "Visitor: "),
    "pl-PL": ("Słowa są w 2 wiadomościach lub notatkach:", "Prywatna notatka: Anna", "Odwiedzający: "),
}


async def test_an_agent_sees_where_each_word_of_a_search_was_said(settings: Settings, chromium: Chromium) -> None:
    """The words of a search were said in two items of one conversation: the result shows both, each marked."""
    async with serve_hub(dataclasses.replace(settings, ai_provider="none")) as hub:
        tenant = await hub.tenant()
        anna_email = await agent_account(hub.node.engine, tenant.id, "Anna")
        anna = await login(hub.http, anna_email)
        session_id = f"s_spread_{uuid.uuid4().hex[:10]}"
        await hub.node.writer.append(tenant.id, session_id, "visitor", "Can I get a refund for last week's repair?")
        author = Agent(anna["user"]["id"], "Anna")
        await hub.node.notes.write(tenant, session_id, author, "Klient dzwonił: znowu piszczą hamulce po serwisie")
        errors: list[str] = []
        async with chromium() as browser:
            for language, (email, password, log_in_label, search_label) in LABELS.items():
                spread, note_by, visitor_said = SPREAD[language]
                for size, viewport in SIZES.items():
                    page = await (await browser.new_context(viewport=viewport, locale=language)).new_page()
                    page.on("pageerror", lambda error: errors.append(str(error)))
                    if size == "phone":  # a slow network: the form is sent before the page's script runs
                        await page.route("**/static/dashboard.js", arriving_late(1))
                    await page.goto(f"{hub.http}/mission-control")
                    await page.get_by_label(email).fill(anna_email)
                    await page.get_by_label(password).fill(PASSWORD)
                    await page.get_by_role("button", name=log_in_label).click()
                    search = page.get_by_role("searchbox", name=search_label)
                    await search.fill("hamulec refund")
                    await search.press("Enter")
                    hits = page.locator("#search-list .search-hit")
                    await expect(hits).to_have_count(1)
                    hit = hits.first
                    await expect(hit.locator(".hit-who")).to_contain_text(note_by)
                    await expect(hit.locator(".hit-text mark")).to_have_text(["hamulce"])
                    await expect(hit.locator(".hit-spread")).to_have_text(spread)
                    await expect(hit.locator(".hit-also")).to_have_text(
                        [visitor_said + "Can I get a refund for last week's repair?"]
                    )
                    await expect(hit.locator(".hit-also mark")).to_have_text(["refund"])
                    await shoot(page, f"search-spread-{language}-{size}")
                    await hit.click()
                    await expect(page.locator("#transcript li.note")).to_contain_text("piszczą hamulce")
                    # A search in the address (a shared link, or the form sent before the page's script ran).
                    await page.goto(f"{hub.http}/mission-control?q=refund")
                    await expect(search).to_have_value("refund")
                    await expect(hits).to_have_count(1)
                    await expect(hit.locator(".hit-text mark")).to_have_text(["refund"])
                    await page.context.close()
        assert errors == []
