"""Mission Control as merged (assignment, labels, notes with mentions, the visitor panel, ratings, search),
checked as a screen-reader and keyboard user meets it: every control has an accessible name in English and
Polish at desk and phone width, and one agent's whole day with one conversation works from the keyboard."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from hub.store.labels import create_label
from tests.browser import Chromium
from tests.conftest import RunningHub, visitor
from tests.test_assignment_browser import DESKTOP, PHONE, row, shoot, staff
from tests.test_dashboard_browser import log_in

# Roles a person operates: each needs a name a screen reader can say.
CONTROLS = "button|link|textbox|searchbox|combobox|listbox|checkbox|radio|switch|slider|spinbutton|menuitem|tab|option"
UNNAMED = re.compile(rf"^\s*- ({CONTROLS})(:|$| \[)", re.MULTILINE)


async def unnamed_controls(page: Page) -> list[str]:
    """Lines of the page's accessibility tree (Playwright's ARIA snapshot) naming a control without a name."""
    tree = await page.locator("body").aria_snapshot()
    return [match.group(0).strip() for match in UNNAMED.finditer(tree)]


async def open_everything(page: Page, session_id: str, phone: bool) -> None:
    """The conversation with each of its panels open, so their controls are in the tree too."""
    await row(page, session_id).get_by_role("button").first.click()
    await expect(page.locator("#transcript .msg").first).to_be_visible()
    await page.locator("#assign-toggle").click()
    await expect(page.locator("#assign-panel")).to_be_visible()
    await page.locator("#labels-toggle").click()
    await expect(page.locator("#labels-panel")).to_be_visible()
    if phone:  # the visitor panel is folded to one line on a phone: open it
        toggle = page.locator("#context-toggle")
        if await toggle.get_attribute("aria-expanded") == "false":
            await toggle.click()
    await page.locator("#mentions-toggle").click()


@pytest.mark.parametrize("language", ["en", "pl"])
@pytest.mark.parametrize("width", ["desk", "phone"])
async def test_every_control_of_mission_control_has_an_accessible_name(
    hub: RunningHub, chromium: Chromium, language: str, width: str
) -> None:
    tenant = await hub.tenant()
    await create_label(hub.node.engine, tenant.id, "Billing", "#2459d8")
    anna, _, _ = await staff(hub, tenant.id, "Anna")
    await staff(hub, tenant.id, "Ben")
    async with visitor(hub.ws, tenant.id) as client, chromium() as browser:
        await client.say("Do you repair e-bikes? I want to talk to a person")
        await client.until(lambda f: f["type"] == "message" and f["role"] == "system")
        session_id = client.ready["session_id"]
        options: dict[str, Any] = PHONE if width == "phone" else DESKTOP
        page = await (await browser.new_context(**options)).new_page()
        await log_in(page, hub, anna)
        await page.goto(f"{hub.http}/mission-control?lang={language}")
        await expect(row(page, session_id)).to_be_visible()
        assert await unnamed_controls(page) == [], "the list view"
        await open_everything(page, session_id, width == "phone")
        await shoot(page, f"mc-a11y-{language}-{width}")
        assert await unnamed_controls(page) == [], "the conversation with its panels open"
        assert await page.locator("html").get_attribute("lang") == language


async def test_an_agent_works_a_conversation_from_the_keyboard_alone(hub: RunningHub, chromium: Chromium) -> None:
    tenant = await hub.tenant()
    await create_label(hub.node.engine, tenant.id, "Billing", "#2459d8")
    anna, _, _ = await staff(hub, tenant.id, "Anna")
    _, ben_id, _ = await staff(hub, tenant.id, "Ben")
    async with visitor(hub.ws, tenant.id) as client, chromium() as browser:
        await client.say("My invoice is wrong")
        await client.until(lambda f: f["type"] == "message" and f["role"] == "ai")
        session_id = client.ready["session_id"]
        page = await (await browser.new_context(**DESKTOP)).new_page()
        await log_in(page, hub, anna)
        keyboard = page.keyboard

        # From the search box, Tab reaches the conversation's row; Enter opens it.
        await page.locator("#search-q").focus()
        for _ in range(40):
            await keyboard.press("Tab")
            if await page.evaluate("document.activeElement.closest('li.session') !== null"):
                break
        else:
            pytest.fail("Tab never reached the conversation list")
        await keyboard.press("Enter")
        await expect(page.locator("#conversation")).to_be_visible()

        # Alt+T takes over; the reply box has the focus and Enter sends.
        await keyboard.press("Alt+t")
        await client.until(lambda f: f["type"] == "message" and f.get("event") == "takeover")
        await page.locator("#reply-text").focus()
        await keyboard.type("Let me check that invoice.")
        await keyboard.press("Enter")
        await client.until(lambda f: f["type"] == "message" and f["role"] == "agent")

        # Alt+N: a private note, @ + letters + Enter picks a colleague, Enter adds it; the visitor never sees it.
        await keyboard.press("Alt+n")
        await expect(page.locator("#note-text")).to_be_focused()
        await keyboard.type("@Be")
        await expect(page.locator("#mention-menu")).to_be_visible()
        await keyboard.press("Enter")
        await keyboard.type("can you check the invoice?")
        await keyboard.press("Enter")
        await expect(page.locator("#transcript .note").last).to_contain_text("Ben can you check the invoice?")

        # Labels: open with the keyboard, tick Billing with Space, Escape closes the panel (not the conversation).
        await page.locator("#labels-toggle").focus()
        await keyboard.press("Enter")
        billing = page.get_by_role("checkbox", name="Billing")
        await billing.focus()
        await keyboard.press("Space")
        await expect(billing).to_be_checked()
        await keyboard.press("Escape")
        await expect(page.locator("#labels-panel")).to_be_hidden()
        await expect(page.locator("#conversation")).to_be_visible()
        await expect(row(page, session_id).locator(".chip", has_text="Billing")).to_be_visible()

        # Transfer to Ben with a note, from the keyboard: the select, the note, Enter on Assign.
        await page.locator("#assign-toggle").focus()
        await keyboard.press("Enter")
        await page.locator("#assign-to").focus()
        await keyboard.press("ArrowDown")  # a focused select changes with the arrows
        await page.locator("#assign-to").select_option(ben_id)
        await page.locator("#transfer-text").focus()
        await keyboard.type("Invoice question, over to you")
        await page.locator("#assign-save").focus()
        await keyboard.press("Enter")
        await expect(page.locator("#assignee")).to_contain_text("Ben")

        # Escape leaves the conversation; the focus goes back to its row.
        await page.locator("#reply-text").focus()
        await keyboard.press("Escape")
        await expect(page.locator("#placeholder")).to_be_visible()
