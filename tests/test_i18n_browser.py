"""Languages in a real browser: the switch of a page is remembered from page to page, a Polish browser gets
Mission Control in Polish, strings its script writes included."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.agents import PASSWORD, agent_account
from tests.browser import Chromium
from tests.conftest import RunningHub, visitor


async def test_the_language_switch_is_remembered_across_the_portal(hub: RunningHub, chromium: Chromium) -> None:
    tenant = await hub.tenant()
    email = await agent_account(hub.node.engine, tenant.id, "Olga", role="owner")
    async with chromium() as browser:
        page = await (await browser.new_context(locale="en-US")).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{hub.http}/portal/login")
        await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        await page.get_by_role("navigation", name="Language").get_by_role("link", name="Polski").click()
        await expect(page.get_by_role("heading", name="Zaloguj się")).to_be_visible()
        await expect(page.locator("html")).to_have_attribute("lang", "pl")
        await page.get_by_label("E-mail").fill(email)
        await page.get_by_label("Hasło").fill(PASSWORD)
        await page.get_by_role("button", name="Zaloguj się").click()
        await expect(page.get_by_role("heading", name="Konfiguracja widżetu")).to_be_visible()
        await page.get_by_role("button", name="Kopiuj").click()
        await expect(page.locator("#copy-status")).to_have_text(re.compile("^(Skopiowano|Zaznacz tag i skopiuj go)$"))
        await page.get_by_role("link", name="Zespół").click()
        await expect(page.get_by_role("heading", name="Zespół", exact=True)).to_be_visible()
        await page.get_by_role("navigation", name="Język").get_by_role("link", name="English").click()
        await expect(page.get_by_role("heading", name="Team", exact=True)).to_be_visible()
        await page.get_by_role("link", name="Personas").click()
        await expect(page.get_by_role("heading", name="Personas", exact=True)).to_be_visible()
    assert errors == []


async def test_a_polish_browser_gets_mission_control_in_polish(hub: RunningHub, chromium: Chromium) -> None:
    tenant = await hub.tenant()
    email = await agent_account(hub.node.engine, tenant.id, "Anna")
    async with chromium() as browser, visitor(hub.ws, tenant.id) as client:
        await client.say("dzień dobry")
        page = await (await browser.new_context(locale="pl-PL")).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{hub.http}/mission-control")
        await expect(page).to_have_title("Mission Control: logowanie · Bob")
        await page.get_by_label("E-mail").fill(email)
        await page.get_by_label("Hasło").fill(PASSWORD)
        await page.get_by_role("button", name="Zaloguj się").click()
        await expect(page.locator("#connection")).to_have_text("Połączono")
        item = page.locator(f'li.session[data-session-id="{client.ready["session_id"]}"]')
        await expect(item.locator(".title")).to_contain_text("Odwiedzający")
        await item.click()
        await page.get_by_role("button", name="Przejmij", exact=True).click()
        await expect(page.locator("#owner")).to_have_text("Prowadzi: Anna (ty)")
        await expect(page.locator("#mode")).to_have_text("człowiek")
        await expect(page.locator(".msg.visitor .who")).to_have_text("Odwiedzający")
    assert errors == []
