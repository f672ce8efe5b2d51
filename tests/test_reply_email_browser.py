"""In a real browser (Debian's Chromium): the link of a received reply email reopens the conversation in
the widget with its whole transcript; a waiting visitor outside office hours reads when a person will be
there and leaves an address in the widget; an owner sets office hours in the portal. Screenshots of each
state, at 1280 and 360 px, go to HUB_SHOTS_DIR when it is set."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from hub.chat.followup import continue_token
from hub.mail import MemoryMailer
from hub.settings import Settings
from hub.tenant_settings import settings_of
from tests.accounts import create_user
from tests.agents import agent_socket
from tests.browser import Chromium
from tests.conftest import SECRET, RunningHub, serve_hub, visitor
from tests.smtp_inbox import Inbox, link
from tests.test_office_hours import (
    MONDAY_EVENING,
    TUESDAY_MORNING,
    WEEKDAYS_9_TO_17,
    add_answered_conversations,
    set_hours,
)
from tests.test_reply_email import agent_of, leave_and_go, reply

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 360, "height": 740}}


async def shoot(page: Page, name: str, *, full_page: bool = False) -> None:
    folder = os.environ.get("HUB_SHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=full_page)


def shadow(page: Page, selector: str) -> Any:
    return page.locator("[data-bob-widget]").locator(selector)  # Playwright's locators pierce open shadow roots


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_the_link_in_a_reply_email_reopens_the_whole_conversation_in_the_widget(
    mail_hub: RunningHub, inbox: Inbox, chromium: Chromium, size: str
) -> None:
    hub = mail_hub
    tenant = await hub.tenant()
    session_id = await leave_and_go(hub, tenant.id)
    async with agent_socket(hub.ws, token=await agent_of(hub, tenant.id)) as agent:
        assert (await agent.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
        await reply(agent, session_id, "Hi Ada, Ann here. Your parcel left this morning.")
        [email] = await inbox.wait_for(1)
    transcript = await hub.node.chat.history(tenant.id, session_id)
    assert [m.role for m in transcript] == ["visitor", "ai", "system", "system", "agent"]
    async with chromium() as browser:
        context = await browser.new_context(viewport=SIZES[size])  # a new browser: nothing stored
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(link(email))
        await expect(page.get_by_role("heading", name="Your conversation with Acme Test")).to_be_visible()
        log = shadow(page, "[role=log]")
        await expect(log.locator(".m[class*=' ']:not(.pending)")).to_have_count(len(transcript) + 1)  # + greeting
        await expect(log.locator(".m.visitor")).to_have_text([re.compile("Where is my order 1234[?]$")])
        await expect(log.locator(".m.agent")).to_contain_text("Your parcel left this morning.")
        await expect(log.locator(".m.system").first).to_contain_text("has been asked to join")
        await shoot(page, f"continue-link-{size}")
        # The visitor goes on in the same conversation.
        await shadow(page, "textarea").fill("Thank you!")
        await shadow(page, "textarea").press("Enter")
        await expect(log.locator(".m.visitor")).to_have_count(2)
        await expect(log.locator(".m.visitor.pending")).to_have_count(0)  # stored: its echo came
        await context.close()
    assert errors == []
    stored = await hub.node.chat.history(tenant.id, session_id)
    assert stored[len(transcript)].role == "visitor" and stored[len(transcript)].text == "Thank you!"


@pytest.mark.parametrize(
    ("size", "language", "zone"), [("desktop", "en-US", "America/New_York"), ("phone", "pl-PL", "Europe/Warsaw")]
)
async def test_a_visitor_waiting_outside_office_hours_reads_the_next_opening_and_leaves_an_email_in_the_widget(
    settings: Settings, chromium: Chromium, size: str, language: str, zone: str
) -> None:
    mailer = MemoryMailer()
    async with serve_hub(settings, mailer=mailer, clock=lambda: MONDAY_EVENING) as hub:
        tenant = await hub.tenant()
        await set_hours(hub, tenant.id, WEEKDAYS_9_TO_17)
        assert settings_of((await hub.node.tenants.get(tenant.id)) or tenant).office_hours is not None
        async with visitor(hub.ws, tenant.id) as guest:
            await guest.say("Can I talk to someone about a refund?")
            await guest.ai_reply()
            await guest.send({"type": "handoff"})
            await guest.until(lambda f: f.get("event") == "handoff_requested")
            session_id = guest.ready["session_id"]
        token = continue_token(SECRET, tenant.id, session_id, int(time.time()) + 600)
        polish = language.startswith("pl")
        async with chromium() as browser:
            context = await browser.new_context(viewport=SIZES[size], locale=language, timezone_id=zone)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{hub.http}/chat/continue/{token}")
            box = shadow(page, ".w")
            when = "wtorek 09:00" if polish else "Tuesday 3:00 AM"
            await expect(box).to_contain_text(when)
            await shoot(page, f"widget-outside-hours-{language}-{size}")
            field = box.get_by_label(re.compile("Zostaw adres e-mail" if polish else "Leave your email address"))
            await field.fill("not an address")
            await field.press("Enter")
            await expect(box.locator(".e")).to_have_text(
                "Ten adres e-mail wygląda na błędny." if polish else "That email address does not look right."
            )
            await field.fill("ada@example.com")
            await field.press("Enter")
            await expect(box).to_contain_text("ada@example.com")
            await expect(box.locator("form")).to_have_count(0)
            await shoot(page, f"widget-email-saved-{language}-{size}")
            await context.close()
        assert errors == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_an_owner_sets_office_hours_in_the_portal(hub: RunningHub, chromium: Chromium, size: str) -> None:
    tenant = await hub.tenant()
    await create_user(
        hub.node.engine, tenant_id=tenant.id, email="owner@hours.example.com", password="portal-pass", role="owner"
    )
    async with chromium() as browser:
        context = await browser.new_context(viewport=SIZES[size], timezone_id="Europe/Warsaw")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{hub.http}/portal/login")
        await page.get_by_label("Email").fill("owner@hours.example.com")
        await page.get_by_label("Password").fill("portal-pass")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Widget Setup")).to_be_visible()
        await page.goto(f"{hub.http}/portal/hours")
        await page.get_by_label("Set office hours").check()
        await expect(page.locator("#hours-zone")).to_have_value("Europe/Warsaw")  # the browser's zone to start
        for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"):
            await page.get_by_label(f"{day}: open", exact=True).check()
        await page.get_by_label("Friday: closes at").fill("15:00")
        await shoot(page, f"portal-office-hours-{size}", full_page=True)
        await page.get_by_role("button", name="Save office hours").click()
        await expect(page.locator("#hours-status")).to_have_text("Saved")
        saved = settings_of((await hub.node.tenants.get(tenant.id)) or tenant).office_hours
        assert saved is not None and saved.time_zone == "Europe/Warsaw"
        assert saved.fri[0].closes == "15:00" and saved.sat == [] and saved.mon[0].opens == "09:00"
        await page.get_by_label("Friday: opens at").fill("16:00")  # after it closes
        await page.get_by_role("button", name="Save office hours").click()
        await expect(page.locator("#hours-error")).to_contain_text("must be later than")
        await page.reload()
        await expect(page.get_by_label("Friday: closes at")).to_have_value("15:00")
        await page.goto(f"{hub.http}/portal/hours?lang=pl")
        await expect(page.get_by_label("Piątek: zamknięcie o")).to_have_value("15:00")
        await shoot(page, f"portal-office-hours-pl-{size}", full_page=True)
        await context.close()
    assert errors == []


@pytest.mark.parametrize(("size", "language"), [("desktop", "en-US"), ("phone", "pl-PL")])
async def test_a_visitor_waiting_while_an_agent_is_there_reads_the_tenants_usual_wait(
    settings: Settings, chromium: Chromium, size: str, language: str
) -> None:
    async with serve_hub(settings, mailer=MemoryMailer(), clock=lambda: TUESDAY_MORNING) as hub:
        tenant = await hub.tenant()
        await set_hours(hub, tenant.id, WEEKDAYS_9_TO_17)
        await add_answered_conversations(hub, tenant.id, [60, 120, 180, 240, 900])  # median 3 minutes
        token = await agent_of(hub, tenant.id)
        async with agent_socket(hub.ws, token=token), visitor(hub.ws, tenant.id) as guest:
            await guest.say("I would like to speak to a person")
            await guest.until(lambda f: f.get("event") == "handoff_requested", timeout=10)
            session_id = guest.ready["session_id"]
            link_token = continue_token(SECRET, tenant.id, session_id, int(time.time()) + 600)
            async with chromium() as browser:
                context = await browser.new_context(viewport=SIZES[size], locale=language)
                page = await context.new_page()
                await page.goto(f"{hub.http}/chat/continue/{link_token}")
                box = shadow(page, ".w")
                if language.startswith("pl"):
                    expected = "Zwykle ktoś z zespołu dołącza w ciągu około 3 min."
                else:
                    expected = "Usually a person joins within about 3 min."
                await expect(box).to_have_text(expected)
                await expect(box.locator("input")).to_have_count(0)  # someone is there: no email asked for
                await shoot(page, f"widget-agent-there-{language}-{size}")
                await context.close()
