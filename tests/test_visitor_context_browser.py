"""In real browsers (Debian's Chromium): the widget on a shop's single-page app reports each page the visitor
moves to (history.pushState, the back button), and Mission Control, in another browser, shows it beside the
conversation as it happens: a side panel at 1280 px, a section above the conversation at 360 px. Screenshots
of both go to HUB_SHOTS_DIR when it is set."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest_asyncio
import uvicorn
from playwright.async_api import Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.agents import agent_account
from tests.browser import Chromium
from tests.conftest import RunningHub
from tests.services import free_port
from tests.test_dashboard_browser import log_in
from tests.test_reply_email_browser import SIZES, shoot
from tests.test_widget_browser import widget_tenant

# A shop built as a single-page app: its links change the address with history.pushState, never reloading.
SHOP_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Home · Acme Bikes</title><link rel="icon" href="data:,">
</head><body>
<h1>Acme Bikes</h1>
<nav><button id="to-city">City bikes</button> <button id="to-city-7">City 7</button></nav>
<script>
  var titles = {{"/": "Home", "/bikes/city": "City bikes", "/bikes/city/7": "City 7"}};
  function show() {{ document.title = titles[location.pathname] + " · Acme Bikes"; }}
  function go(path) {{ history.pushState({{}}, "", path); show(); }}
  document.getElementById("to-city").onclick = function () {{ go("/bikes/city"); }};
  document.getElementById("to-city-7").onclick = function () {{ go("/bikes/city/7?colour=red"); }};
  window.onpopstate = show;  // an app sets the title of the page it goes back to itself
</script>
<script src="{hub}/widget/{tenant}/widget.js" async></script>
</body></html>
"""


async def shop_page(request: Request) -> HTMLResponse:
    return HTMLResponse(SHOP_PAGE.format(hub=request.query_params["hub"], tenant=request.query_params["tenant"]))


@pytest_asyncio.fixture(scope="module")
async def shop() -> AsyncIterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/", shop_page)]), host="127.0.0.1", port=free_port(), log_level="warning"
        )
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


async def no_sideways_scroll(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "nothing scrolls sideways"


async def test_mission_control_shows_the_page_the_visitor_moves_to_on_a_single_page_shop(
    hub: RunningHub, shop: str, chromium: Chromium
) -> None:
    tenant = await widget_tenant(hub, shop)
    email = await agent_account(hub.node.engine, tenant.id, "Anna")
    async with chromium() as browser:
        visitor = await (await browser.new_context(locale="pl-PL", timezone_id="Europe/Warsaw")).new_page()
        errors: list[str] = []
        visitor.on("pageerror", lambda error: errors.append(str(error)))
        await visitor.goto(f"{shop}/?hub={hub.http}&tenant={tenant.id}")
        await visitor.get_by_role("button", name=re.compile("chat|czat", re.I)).click()
        await visitor.get_by_role("textbox").fill("Is the City 7 in stock?")
        await visitor.get_by_role("textbox").press("Enter")
        await visitor.get_by_role("button", name="City bikes").click()

        desktop = await (await browser.new_context(viewport=SIZES["desktop"])).new_page()
        desktop.on("pageerror", lambda error: errors.append(str(error)))
        await log_in(desktop, hub, email)
        await desktop.locator("li.session").first.click()
        panel = desktop.get_by_role("complementary", name="About the visitor")
        await expect(panel).to_be_visible()
        now_on = panel.locator("#context-page a")
        await expect(now_on).to_have_text("City bikes · Acme Bikes")
        await expect(now_on).to_have_attribute("href", f"{shop}/bikes/city")
        await expect(panel.locator("#context-pages li")).to_have_count(2)  # the shop's home, then City bikes
        await expect(panel.locator("#context-visits")).to_contain_text("1")
        await expect(panel.locator("#context-language")).to_have_text("pl in the widget, pl-PL in the browser")
        await expect(panel.locator("#context-zone")).to_contain_text("Europe/Warsaw")
        await expect(panel.locator("#context-email")).to_have_text("not left")

        # The visitor moves on without a reload, then goes back: the open conversation follows, live.
        await visitor.get_by_role("button", name="City 7").click()
        await expect(now_on).to_have_text("City 7 · Acme Bikes")
        await expect(now_on).to_have_attribute("href", f"{shop}/bikes/city/7?colour=red")
        await expect(panel.locator("#context-pages li").first).to_contain_text("City 7 · Acme Bikes")
        await shoot(desktop, "visitor-context-1280")
        await visitor.go_back()
        await expect(now_on).to_have_text("City bikes · Acme Bikes")

        # The panel folds away to a strip, and stays folded for the next conversation opened.
        toggle = panel.get_by_role("button", name=re.compile("^Visitor"))
        await toggle.click()
        await expect(toggle).to_have_attribute("aria-expanded", "false")
        await expect(panel.locator("#context-body")).to_be_hidden()
        await shoot(desktop, "visitor-context-1280-folded")
        await toggle.press("Enter")
        await expect(panel.locator("#context-body")).to_be_visible()

        # On a phone: one summary line above the conversation, opened with its button.
        phone = await (await browser.new_context(viewport=SIZES["phone"])).new_page()
        phone.on("pageerror", lambda error: errors.append(str(error)))
        await log_in(phone, hub, email)
        await phone.locator("li.session").first.click()
        small = phone.get_by_role("complementary", name="About the visitor")
        summary = small.get_by_role("button", name=re.compile("^Visitor"))
        await expect(summary).to_contain_text("City bikes · Acme Bikes")
        await expect(summary).to_have_attribute("aria-expanded", "false")
        await expect(phone.get_by_label("Reply", exact=True)).to_be_visible()
        await no_sideways_scroll(phone)
        await shoot(phone, "visitor-context-360-folded")
        await summary.click()
        await expect(small.locator("#context-page a")).to_have_text("City bikes · Acme Bikes")
        await visitor.get_by_role("button", name="City 7").click()
        await expect(small.locator("#context-page a")).to_have_text("City 7 · Acme Bikes")
        await no_sideways_scroll(phone)
        await shoot(phone, "visitor-context-360")
        await phone.get_by_role("button", name="← Conversations").click()
        await expect(small).to_be_hidden()
    assert errors == []
