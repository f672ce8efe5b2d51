"""Customer Portal in a real browser: an owner logs in, adds a widget key, copies the tag, revokes it."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

from playwright.async_api import expect

from hub.auth.permissions import PLATFORM_BUSINESS_ID
from hub.settings import Settings
from hub.store.knowledge import list_entries
from hub.store.webhooks import list_deliveries, list_endpoints
from tests.accounts import create_tenant, create_user
from tests.agents import login
from tests.browser import Chromium, arriving_late
from tests.conftest import RunningHub, serve_hub, visitor
from tests.webhook_receiver import receiver


async def test_owner_logs_in_and_manages_widget_keys_on_widget_setup(hub: RunningHub, chromium: Chromium) -> None:
    tenant = await hub.tenant()
    await create_user(
        hub.node.engine, tenant_id=tenant.id, email="owner@shop.example.com", password="portal-pass", role="owner"
    )
    async with chromium() as browser:
        context = await browser.new_context()
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{hub.http}/portal/widget")
        await expect(page).to_have_url(re.compile("/portal/login$"))
        await page.get_by_label("Email").fill("owner@shop.example.com")
        await page.get_by_label("Password").fill("wrong-password")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("alert")).to_contain_text("wrong email or password")
        await page.get_by_label("Password").fill("portal-pass")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Widget Setup")).to_be_visible()
        await expect(page.locator("#embed-tag")).to_have_text(
            f'<script src="{hub.http}/widget/{tenant.id}/widget.js" async></script>'
        )
        await page.get_by_label("New key for origins (one per line)").fill("https://shop.example.com")
        await page.get_by_role("button", name="Add key").click()
        row = page.locator("#keys tbody tr", has_text="https://shop.example.com")
        await expect(row).to_have_count(1)
        await expect(row.locator("code")).to_have_text(re.compile("^pk_live_"))
        await row.get_by_role("button", name="Revoke").click()
        await expect(page.locator("#keys tbody tr", has_text="https://shop.example.com")).to_have_count(0)
        await page.get_by_role("button", name="Log out").click()
        await expect(page).to_have_url(re.compile("/portal/login$"))
        await context.close()
    assert errors == []


async def test_owner_adds_and_activates_a_persona_and_sees_plan_and_usage(hub: RunningHub, chromium: Chromium) -> None:
    tenant = await hub.tenant()
    await create_user(
        hub.node.engine, tenant_id=tenant.id, email="owner@persona.example.com", password="portal-pass", role="owner"
    )
    async with chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{hub.http}/portal/personas")
        await expect(page).to_have_url(re.compile("/portal/login$"))
        await page.get_by_label("Email").fill("owner@persona.example.com")
        await page.get_by_label("Password").fill("portal-pass")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Widget Setup")).to_be_visible()
        await page.get_by_role("link", name="Personas").click()
        rows = page.locator("#personas tbody tr[data-persona]")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text("Bob (active)")
        new = page.locator("#new-persona")
        await new.get_by_label("Name").fill("Ada")
        await new.get_by_label("Tone").fill("warm")
        await new.get_by_label("System prompt").fill("You are Ada, the concierge of Acme.")
        await new.get_by_role("button", name="Add persona").click()
        ada = rows.filter(has_text="Ada")
        await expect(ada).to_have_count(1)
        await ada.get_by_role("button", name="Activate").click()
        await expect(rows.filter(has_text="Ada")).to_contain_text("Ada (active)")
        await new.get_by_label("Name").fill("")
        await new.get_by_role("button", name="Add persona").click()
        await expect(page.get_by_role("alert")).to_contain_text("'name'")
        # Editing: every field of a persona, in place; the API holds the change.
        await page.get_by_text("Edit Ada").click()
        edit = page.locator("form.edit-persona").filter(has=page.locator("input[value='Ada']"))
        await expect(edit.get_by_label("System prompt")).to_have_value("You are Ada, the concierge of Acme.")
        await edit.get_by_label("Name").fill("Ada Lovelace")
        await edit.get_by_label("System prompt").fill("You are Ada Lovelace, the concierge of Acme. Be brief.")
        await edit.get_by_role("button", name="Save changes").click()
        await expect(rows.filter(has_text="Ada Lovelace")).to_contain_text("Ada Lovelace (active)")
        stored = await page.request.get(f"{hub.http}/api/personas")
        [edited] = [p for p in (await stored.json())["personas"] if p["name"] == "Ada Lovelace"]
        assert edited["systemPrompt"] == "You are Ada Lovelace, the concierge of Acme. Be brief."
        assert edited["tone"] == "warm", "fields left as they were stay"
        await page.get_by_role("link", name="Plan").click()
        await expect(page.locator("#current-plan")).to_have_text("Starter")
        await expect(page.locator("#credits-used")).to_have_text("0")
        await expect(page.locator("#plans")).to_contain_text("$249")
    assert errors == []


async def test_owner_adds_a_webhook_sees_its_delivery_log_and_redelivers(
    settings: Settings, chromium: Chromium
) -> None:
    async with serve_hub(dataclasses.replace(settings, webhooks_allow_private=True)) as hub, receiver() as hooks:
        tenant = await hub.tenant()
        await create_user(
            hub.node.engine, tenant_id=tenant.id, email="owner@hooks.example.com", password="portal-pass", role="owner"
        )
        async with chromium() as browser:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{hub.http}/portal/login")
            await page.get_by_label("Email").fill("owner@hooks.example.com")
            await page.get_by_label("Password").fill("portal-pass")
            await page.get_by_role("button", name="Log in").click()
            await expect(page.get_by_role("heading", name="Widget Setup")).to_be_visible()
            await page.get_by_role("link", name="Webhooks").click()
            await page.get_by_label("URL").fill(hooks.url)
            await page.get_by_role("button", name="Add endpoint").click()
            section = page.locator("section.endpoint")
            await expect(section).to_have_count(1)
            hooks.secret = (await section.locator("code").text_content() or "").strip()
            async with visitor(hub.ws, tenant.id) as client:
                await client.say("hello")
                await client.ai_reply()
            await hooks.wait_for(lambda got: any(e["type"] == "message.created" for e in got))
            await delivered_in_store(hub, tenant.id, "session.created")
            await page.reload()
            delivered = page.locator("table.deliveries tbody tr", has_text="session.created")
            await expect(delivered).to_contain_text("delivered")
            before = len(hooks.received)
            await delivered.get_by_role("button", name="Redeliver").click()
            await expect(delivered.get_by_role("button", name="Queued")).to_be_visible()
            await hooks.wait_for(lambda got: len(got) > before)
            assert hooks.rejected == 0
        assert errors == []


async def delivered_in_store(hub: RunningHub, tenant_id: str, event_type: str) -> None:
    """The receiver answers before the hub records the attempt: wait for the record the page shows."""
    async with asyncio.timeout(10):
        while True:
            endpoints = await list_endpoints(hub.node.engine, tenant_id)
            deliveries = await list_deliveries(hub.node.engine, tenant_id, endpoints[0].id)
            if any(d.event_type == event_type and d.status == "delivered" for d in deliveries):
                return
            await asyncio.sleep(0.05)


async def test_platform_admin_registers_a_tenant_in_the_portal(hub: RunningHub, chromium: Chromium) -> None:
    platform = await create_tenant(hub.node.engine, name="Office16852", business_id=PLATFORM_BUSINESS_ID)
    await create_user(
        hub.node.engine,
        tenant_id=platform.id,
        email="root@office16852.example.com",
        password="portal-pass",
        role="admin",
    )
    async with chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{hub.http}/portal/login")
        await page.get_by_label("Email").fill("root@office16852.example.com")
        await page.get_by_label("Password").fill("portal-pass")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Widget Setup")).to_be_visible()
        await page.goto(f"{hub.http}/portal/tenants")
        await page.get_by_label("Business name").fill("Piekarnia Pod Lipą")
        await page.get_by_label("business_id (a slug like acme-shop)").fill("piekarnia")
        await page.get_by_label("Plan").select_option("pro")
        await page.get_by_label("Owner's email").fill("owner@piekarnia.example.com")
        await page.get_by_label("Owner's first password").fill("owner-pass-1")
        await page.get_by_role("button", name="Register tenant").click()
        await expect(page.locator("#tenant-result")).to_contain_text("Registered piekarnia")
        await expect(page.locator("#tenant-result")).to_contain_text("Plan: pro")
        await page.get_by_role("button", name="Register tenant").click()
        await expect(page.get_by_role("alert")).to_contain_text("already exists")
    assert errors == []
    assert (await login(hub.http, "owner@piekarnia.example.com", "owner-pass-1"))["user"]["business_id"] == "piekarnia"


async def test_owner_invites_teammates_until_the_plan_is_full(hub: RunningHub, chromium: Chromium) -> None:
    tenant = await hub.tenant()  # starter: 3 seats
    await create_user(
        hub.node.engine, tenant_id=tenant.id, email="owner@team.example.com", password="portal-pass", role="owner"
    )
    async with chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{hub.http}/portal/login")
        await page.get_by_label("Email").fill("owner@team.example.com")
        await page.get_by_label("Password").fill("portal-pass")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Widget Setup")).to_be_visible()
        await page.get_by_role("link", name="Team").click()
        await expect(page.locator("#seats")).to_have_text("1 of 3")
        for number in (1, 2, 3):
            await page.get_by_label("Name").fill(f"Agent {number}")
            await page.get_by_label("Email").fill(f"agent{number}@team.example.com")
            await page.get_by_role("button", name="Create invitation link").click()
            if number < 3:
                await expect(page.locator("#seats-invited")).to_have_text(str(number))
                await expect(page.locator("#flash-link")).to_have_value(re.compile("/invite/inv_"))
        await expect(page.get_by_role("alert")).to_contain_text("3 seats")
        await expect(page.locator("#invites tbody tr")).to_have_count(2)
        await expect(page.locator("#seats")).to_have_text("1 of 3")
    assert errors == []


async def test_owner_adds_edits_imports_and_deletes_knowledge_and_bob_answers_from_it(
    hub: RunningHub, chromium: Chromium, tmp_path: Path
) -> None:
    tenant = await hub.tenant()
    await create_user(
        hub.node.engine, tenant_id=tenant.id, email="owner@knowledge.example.com", password="portal-pass", role="owner"
    )
    hours = tmp_path / "hours.md"
    hours.write_text("# Opening hours\n\nWe are open **9 to 5**, Monday to Friday.\n")
    faq = tmp_path / "faq.csv"
    faq.write_text("title,body,language\nWysyłka,Wysyłamy w 24 godziny.,pl\n")
    async with visitor(hub.ws, tenant.id) as client:
        await client.say("Do you sell helmets?")
        await client.ai_reply()
    async with chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{hub.http}/portal/login")
        await page.get_by_label("Email").fill("owner@knowledge.example.com")
        await page.get_by_label("Password").fill("portal-pass")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Widget Setup")).to_be_visible()
        await page.get_by_role("link", name="Knowledge").click()
        await expect(page.locator("#no-entries")).to_be_visible()
        helmets = page.locator("#unanswered tbody tr", has_text="Do you sell helmets?")
        await expect(helmets).to_contain_text("1\u00d7")  # asked once
        await helmets.get_by_role("button", name="Add an entry").click()
        await expect(page.get_by_label("Title")).to_have_value("Do you sell helmets?")
        await expect(page.get_by_label("Answer (Markdown)")).to_be_focused()

        await page.get_by_label("Title").fill("Electric bikes")
        await page.get_by_label("Answer (Markdown)").fill("We repair e-bikes.")
        await page.get_by_label("Link to read more (optional)").fill("https://shop.example.com/ebikes")
        await page.get_by_role("button", name="Save entry").click()
        row = page.locator("#knowledge tbody tr", has_text="Electric bikes")
        await expect(row).to_have_count(1)
        await row.get_by_role("button", name="Edit").click()
        await expect(page.get_by_role("heading", name="Edit entry")).to_be_visible()
        await expect(page.get_by_label("Answer (Markdown)")).to_have_value("We repair e-bikes.")
        await page.get_by_label("Answer (Markdown)").fill("Yes, we repair e-bikes of every brand.")
        await page.get_by_role("button", name="Save entry").click()
        await expect(page.get_by_role("heading", name="New entry")).to_be_visible()
        async with visitor(hub.ws, tenant.id) as client:
            await client.say("Do you repair e-bikes?")
            assert (await client.ai_reply())[-1]["text"] == "Yes, we repair e-bikes of every brand."

        await page.get_by_label("Files").set_input_files([str(hours)])
        await page.get_by_role("button", name="Import", exact=True).click()
        await expect(page.get_by_role("status")).to_have_text("Imported 1 entries.")
        await expect(page.locator("#knowledge tbody tr", has_text="Opening hours")).to_have_count(1)
        await page.get_by_label("Format").select_option("csv")
        await page.get_by_label("Files").set_input_files([str(faq)])
        await page.get_by_role("button", name="Import", exact=True).click()
        await expect(page.locator("#knowledge tbody tr", has_text="Wysyłka")).to_contain_text("Polski")

        await page.get_by_label("Title").fill("")
        await page.get_by_role("button", name="Save entry").click()
        await expect(page.locator("#knowledge-error")).to_contain_text("'title'")
        on = page.locator("#knowledge tbody tr", has_text="Opening hours").get_by_role("checkbox")
        await on.uncheck()
        for _ in range(100):
            if not await _enabled(hub, tenant.id, "Opening hours"):
                break
            await asyncio.sleep(0.05)
        assert not await _enabled(hub, tenant.id, "Opening hours"), "unchecking turns the entry off"
        await (
            page.locator("#knowledge tbody tr", has_text="Electric bikes").get_by_role("button", name="Delete").click()
        )
        await expect(page.locator("#knowledge tbody tr")).to_have_count(2)
    assert errors == []


async def _enabled(hub: RunningHub, tenant_id: str, title: str) -> bool:
    async with hub.node.engine.connect() as connection:
        entries = await list_entries(connection, tenant_id)
    return next(entry.enabled for entry in entries if entry.title == title)


async def test_the_portal_marks_the_page_being_shown_and_keeps_its_links_to_one_row_on_a_phone(
    hub: RunningHub, chromium: Chromium
) -> None:
    tenant = await hub.tenant()
    await create_user(
        hub.node.engine, tenant_id=tenant.id, email="owner@nav.example.com", password="portal-pass", role="owner"
    )
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
        page = await context.new_page()
        await page.goto(f"{hub.http}/portal/login")
        await page.get_by_label("Email").fill("owner@nav.example.com")
        await page.get_by_label("Password").fill("portal-pass")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Widget Setup")).to_be_visible()
        await page.goto(f"{hub.http}/portal/hours")
        pages = page.get_by_role("navigation", name="Pages")
        here = pages.get_by_role("link", name="Office hours")
        await expect(here).to_have_attribute("aria-current", "page")
        await expect(pages.locator("[aria-current]")).to_have_count(1)
        box = await pages.bounding_box()
        assert box is not None and box["height"] < 50, f"the links take {box} on a 360 px screen: one row"
        # The current page, far along the row, is scrolled into the row's view; the page itself never scrolls sideways.
        link, row = await here.bounding_box(), await pages.bounding_box()
        assert link is not None and row is not None and row["x"] <= link["x"] and link["x"] + link["width"] <= 360
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        await pages.get_by_role("link", name="Team").click()
        await expect(page.get_by_role("heading", name="Team", exact=True)).to_be_visible()
        await context.close()


async def test_a_form_sent_before_the_pages_script_arrives_waits_for_it_and_loses_nothing(
    hub: RunningHub, chromium: Chromium
) -> None:
    """On a slow network the page shows before its script: Enter in a form does nothing until the script listens
    (sent natively, the form reloaded the page and lost what was typed), then the form works."""
    tenant = await hub.tenant()
    await create_user(
        hub.node.engine, tenant_id=tenant.id, email="owner@slow.example.com", password="portal-pass", role="owner"
    )
    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{hub.http}/portal/login")
        await page.get_by_label("Email").fill("owner@slow.example.com")
        await page.get_by_label("Password").fill("portal-pass")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Widget Setup")).to_be_visible()
        arrived = asyncio.Event()
        await page.route("**/static/portal.js", arriving_late(1.5, arrived))
        await page.goto(f"{hub.http}/portal/labels", wait_until="commit")
        name = page.get_by_label("Name")
        await name.fill("Refund")
        await name.press("Enter")
        add = page.get_by_role("button", name="Add label")
        assert not arrived.is_set() and await add.is_disabled(), "the script has not arrived yet"
        await expect(add).to_be_enabled()
        assert page.url == f"{hub.http}/portal/labels" and await name.input_value() == "Refund", "nothing was lost"
        await add.click()
        await expect(page.locator("#label-list .label-edit input[name=name]").first).to_have_value("Refund")
        await page.context.close()
