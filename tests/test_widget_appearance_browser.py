"""The widget's appearance in a real browser: on Widget Setup the preview is the real widget (widget.js in a
frame of the hub's own, under its policy) and follows the form as the owner edits it, before anything is
saved; once saved, a widget already open on a customer's page (another origin) shows the new colour,
position, greeting and persona name without a reload. Screenshots at 1280 and 360 px go to HUB_SHOTS_DIR
when it is set."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import uvicorn
from playwright.async_api import Browser, FrameLocator, Locator, Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from hub.appearance import WidgetAppearance, appearance_of
from hub.store.tenants import get_tenant
from tests.accounts import create_widget_key
from tests.agents import PASSWORD, agent_account, login
from tests.browser import Chromium
from tests.conftest import RunningHub
from tests.services import free_port

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 360, "height": 740}
BLUE = "rgb(36, 89, 216)"  # the default colour, #2459d8
GREEN = "rgb(31, 122, 77)"  # #1f7a4d

CUSTOMER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme bikes</title><link rel="icon" href="data:,"></head>
<body style="font-family: sans-serif; margin: 2rem"><h1>Acme bikes</h1><p>Repairs, parts and rentals.</p>
<script src="{hub}/widget/{tenant}/widget.js" async></script></body></html>
"""


async def shoot(page: Page, name: str, *, full_page: bool = False) -> None:
    folder = os.environ.get("HUB_SHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=full_page)


@contextlib.asynccontextmanager
async def customer_site(hub: RunningHub, tenant_id: str) -> AsyncIterator[str]:
    """A customer's page on another origin than the hub, with the widget's one tag."""

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(CUSTOMER_PAGE.format(hub=hub.http, tenant=tenant_id))

    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=[Route("/", page)]), host="127.0.0.1", port=free_port(), log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


async def portal(browser: Browser, hub: RunningHub, email: str, viewport: dict[str, int]) -> Page:
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{hub.http}/portal/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Widget Setup")).to_be_visible()
    return page


def preview_widget(page: Page) -> Locator:
    frame: FrameLocator = page.frame_locator("#widget-preview")
    return frame.locator("[data-bob-widget]")  # Playwright's locators pierce the widget's open shadow root


async def in_corner(part: Locator, side: str) -> None:
    """The widget's panel or launcher sits 20 px from that side of its page (the frame's, in the preview)."""
    await expect(part).to_have_css(side, "20px", timeout=5000)


async def stored(hub: RunningHub, tenant_id: str) -> WidgetAppearance:
    tenant = await get_tenant(hub.node.engine, tenant_id)
    assert tenant is not None
    return appearance_of(tenant)


async def test_the_preview_on_widget_setup_is_the_real_widget_and_follows_the_form_before_saving(
    hub: RunningHub, chromium: Chromium
) -> None:
    tenant = await hub.tenant()
    email = await agent_account(hub.node.engine, tenant.id, "Olga", "owner")
    async with chromium() as browser:
        page = await portal(browser, hub, email, DESKTOP)
        widget = preview_widget(page)
        panel = widget.get_by_role("dialog", name="Chat with Bob")
        header = widget.locator(".h")
        await expect(panel).to_be_visible()  # the preview opens the panel at once
        await expect(header).to_have_css("background-color", BLUE)
        await expect(page.locator("#appearance-contrast")).to_contain_text("6.0:1: easy to read")

        await page.get_by_label("Colour as a hex code").fill("#1f7a4d")
        await expect(header).to_have_css("background-color", GREEN)
        await expect(page.get_by_label("Colour", exact=True)).to_have_value("#1f7a4d")
        await page.get_by_label("Greeting").fill("Hi! Ask me about repairs.")
        await expect(widget.locator(".m.ai .t").first).to_have_text("Hi! Ask me about repairs.")
        await in_corner(panel, "right")
        await page.get_by_label("Bottom left").check()
        await in_corner(panel, "left")
        await page.get_by_label("Launcher text").fill("Chat with us")
        await page.locator("#appearance-language").select_option("pl")
        await expect(widget.get_by_role("button", name="Wyślij")).to_be_visible()
        await page.locator("#appearance-language").select_option("auto")
        await expect(widget.get_by_role("button", name="Send")).to_be_visible()
        await shoot(page, "widget-setup-editing-1280", full_page=True)
        await widget.get_by_role("button", name="Close").click()
        launcher = widget.get_by_role("button", name=re.compile("^Chat with us"))
        await expect(launcher.locator(".lt")).to_have_text("Chat with us")
        await expect(launcher).to_have_css("background-color", GREEN)
        await in_corner(launcher, "left")
        assert await stored(hub, tenant.id) == WidgetAppearance(), "the preview changes nothing before Save"

        await page.get_by_label("Colour as a hex code").fill("#ffd600")
        await expect(page.locator("#appearance-contrast")).to_contain_text("1.4:1, too low to read")
        await expect(page.get_by_label("Colour as a hex code")).to_have_attribute("aria-invalid", "true")
        await page.get_by_role("button", name="Save appearance").click()
        await expect(page.locator("#appearance-error")).to_contain_text("contrast of 1.4:1")
        assert await stored(hub, tenant.id) == WidgetAppearance()

        await page.get_by_label("Colour as a hex code").fill("#1F7A4D")
        await page.get_by_role("button", name="Save appearance").click()
        await expect(page.locator("#appearance-status")).to_have_text(
            "Saved: every open widget shows it within seconds."
        )
        assert await stored(hub, tenant.id) == WidgetAppearance(
            color="#1f7a4d", greeting="Hi! Ask me about repairs.", position="left", launcher_text="Chat with us"
        )
        await page.reload()  # the form shows what is saved
        await expect(page.get_by_label("Colour as a hex code")).to_have_value("#1f7a4d")
        await expect(page.get_by_label("Bottom left")).to_be_checked()
        await expect(preview_widget(page).locator(".h")).to_have_css("background-color", GREEN)
        await shoot(page, "widget-setup-1280", full_page=True)

        phone = await portal(browser, hub, email, PHONE)
        await expect(preview_widget(phone).locator(".h")).to_have_css("background-color", GREEN)
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "nothing scrolls sideways on a phone"
        # The embed tag is shown whole (wrapped, not cut off at the card's edge) and copied whole.
        tag = f'<script src="{hub.http}/widget/{tenant.id}/widget.js" async></script>'
        embed = phone.locator("pre:has(#embed-tag)")
        assert await embed.evaluate("pre => pre.scrollWidth <= pre.clientWidth"), "wrapped, nothing hidden"
        await phone.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=hub.http)
        await phone.get_by_role("button", name="Copy").click()
        await expect(phone.locator("#copy-status")).to_have_text("Copied")
        assert await phone.evaluate("navigator.clipboard.readText()") == tag
        await shoot(phone, "widget-setup-360", full_page=True)


async def test_an_open_widget_on_a_customer_page_shows_a_saved_change_without_a_reload(
    hub: RunningHub, chromium: Chromium
) -> None:
    tenant = await hub.tenant()
    email = await agent_account(hub.node.engine, tenant.id, "Olga", "owner")
    async with customer_site(hub, tenant.id) as site, chromium() as browser:
        await create_widget_key(hub.node.engine, tenant.id, [site])
        hub.node.forget_tenant(tenant.id)  # the key's origin may open the socket at once
        desk = await (await browser.new_context(viewport=DESKTOP)).new_page()  # type: ignore[arg-type]
        phone = await (await browser.new_context(viewport=PHONE)).new_page()  # type: ignore[arg-type]
        for customer in (desk, phone):
            await customer.goto(site)
            await customer.evaluate("window.loadedOnce = true")
        on_desk, on_phone = desk.locator("[data-bob-widget]"), phone.locator("[data-bob-widget]")
        await on_desk.get_by_role("button", name=re.compile("chat", re.I)).click()
        panel = on_desk.get_by_role("dialog")
        await expect(panel).to_contain_text("Hi! I'm Bob, the assistant of Acme Test.")
        await expect(on_desk.locator(".h")).to_have_css("background-color", BLUE)
        await on_desk.get_by_role("textbox").fill("hello")  # the socket is live (opening the panel connected it)
        await on_desk.get_by_role("textbox").press("Enter")
        await expect(on_desk.locator(".m.ai .t")).to_have_count(2)
        # On the phone the visitor opened the chat and closed it again: its socket stays, the launcher shows.
        phone_launcher = on_phone.get_by_role("button", name=re.compile("chat", re.I))
        await phone_launcher.click()
        await expect(on_phone.get_by_role("dialog")).to_contain_text("Hi! I'm Bob")
        await on_phone.get_by_role("button", name="Close").click()
        await expect(phone_launcher).to_be_visible()

        owner = await portal(browser, hub, email, DESKTOP)
        await owner.get_by_label("Colour as a hex code").fill("#1f7a4d")
        await owner.get_by_label("Greeting").fill("Hi! Ask me about repairs.")
        await owner.get_by_label("Launcher text").fill("Chat with us")
        await owner.get_by_role("button", name="Save appearance").click()
        await expect(owner.locator("#appearance-status")).to_contain_text("Saved")

        await expect(on_desk.locator(".h")).to_have_css("background-color", GREEN, timeout=5000)
        await expect(on_desk.locator(".m.ai .t").first).to_have_text("Hi! Ask me about repairs.")
        await expect(phone_launcher.locator(".lt")).to_have_text("Chat with us", timeout=5000)
        await expect(phone_launcher).to_have_css("background-color", GREEN)
        await in_corner(panel, "right")
        await in_corner(phone_launcher, "right")
        await shoot(desk, "widget-right-1280")
        await shoot(phone, "widget-right-360")

        await owner.get_by_label("Bottom left").check()
        await owner.get_by_role("button", name="Save appearance").click()
        token = (await login(hub.http, email))["token"]
        async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as api:
            bob = (await api.get("/api/personas")).json()["personas"][0]
            assert (await api.patch(f"/api/personas/{bob['id']}", json={"name": "Ada"})).status_code == 200

        await expect(on_desk.get_by_role("dialog", name="Chat with Ada")).to_be_visible(timeout=5000)
        await expect(on_desk.get_by_role("heading")).to_have_text("Chat with Ada")
        await in_corner(panel, "left")
        await in_corner(phone_launcher, "left")
        await expect(phone_launcher).to_have_attribute("aria-label", re.compile("^Chat with us · Open chat with Ada"))
        await shoot(desk, "widget-left-1280")
        await shoot(phone, "widget-left-360")
        await phone_launcher.click()
        await expect(on_phone.get_by_role("dialog", name="Chat with Ada")).to_be_visible()
        await expect(on_phone.locator(".h")).to_have_css("background-color", GREEN)
        await shoot(phone, "widget-left-open-360")
        for customer in (desk, phone):
            assert await customer.evaluate("window.loadedOnce") is True, "no reload"
