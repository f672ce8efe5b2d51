"""Customer Portal in a real browser: an owner logs in, adds a widget key, copies the tag, revokes it."""

from __future__ import annotations

import re

from playwright.async_api import expect

from hub.store.users import create_user
from tests.browser import chromium
from tests.conftest import RunningHub


async def test_owner_logs_in_and_manages_widget_keys_on_widget_setup(hub: RunningHub) -> None:
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


async def test_owner_adds_and_activates_a_persona_and_sees_plan_and_usage(hub: RunningHub) -> None:
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
        await expect(page.locator("#personas tbody tr")).to_have_count(1)
        await expect(page.locator("#personas tbody tr").first).to_contain_text("Bob (active)")
        await page.get_by_label("Name").fill("Ada")
        await page.get_by_label("Tone").fill("warm")
        await page.get_by_label("System prompt").fill("You are Ada, the concierge of Acme.")
        await page.get_by_role("button", name="Add persona").click()
        ada = page.locator("#personas tbody tr", has_text="Ada")
        await expect(ada).to_have_count(1)
        await ada.get_by_role("button", name="Activate").click()
        await expect(page.locator("#personas tbody tr", has_text="Ada")).to_contain_text("Ada (active)")
        await page.get_by_label("Name").fill("")
        await page.get_by_role("button", name="Add persona").click()
        await expect(page.get_by_role("alert")).to_contain_text("'name'")
        await page.get_by_role("link", name="Plan").click()
        await expect(page.locator("#current-plan")).to_have_text("Starter")
        await expect(page.locator("#credits-used")).to_have_text("0")
        await expect(page.locator("#plans")).to_contain_text("$249")
    assert errors == []
