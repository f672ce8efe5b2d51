"""Every page of the hub under its Content-Security-Policy in Chromium: each page is used as people use it,
and the test fails on any refusal (a ``securitypolicyviolation`` event, or Chromium's console message for
one), any page error, or a page answered without a policy."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Response, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from hub.auth.permissions import PLATFORM_BUSINESS_ID
from tests.accounts import create_tenant, create_user, create_widget_key
from tests.agents import PASSWORD, agent_account
from tests.browser import Chromium
from tests.conftest import RunningHub, visitor
from tests.services import free_port

# Runs in every document before its own scripts; the binding reaches the test whatever the page's policy.
REPORT_VIOLATIONS = """
window.addEventListener("securitypolicyviolation", function (event) {
  window.reportViolation(event.effectiveDirective + " refused " + (event.blockedURI || "inline") + " in " +
    event.documentURI + " (" + event.sourceFile + ":" + event.lineNumber + " " + event.sample + ")");
}, true);
"""


@dataclass
class Site:
    """Another site than the hub (another port of loopback): ``pages`` maps a path to its HTML and headers."""

    origin: str
    pages: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    pages: dict[str, tuple[str, dict[str, str]]] = {}

    async def page(request: Request) -> HTMLResponse:
        body, headers = pages.get(request.url.path, ("", {}))
        return HTMLResponse(body, status_code=200 if body else 404, headers=headers)

    app = Starlette(routes=[Route("/{path:path}", page)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield Site(f"http://127.0.0.1:{server.config.port}", pages)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


@dataclass
class PolicyWatch:
    """What the pages of one browser context were refused, threw or logged, and the documents they loaded."""

    hub: str
    violations: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    documents: list[Response] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        # Every page names its icon; a browser may still ask for /favicon.ico on its own: not a page's doing.
        if message.type in ("error", "warning") and not message.location["url"].endswith("/favicon.ico"):
            self.console.append(f"{message.type}: {message.text} ({message.location['url']})")

    def on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.console.append(f"answer {response.status}: {response.url}")
        if response.request.resource_type == "document":
            self.documents.append(response)

    async def assert_clean(self) -> None:
        assert self.violations == [], "\n".join(self.violations)
        assert [text for text in self.console if "Content Security Policy" in text] == []
        assert self.errors == [], "page errors"
        assert self.console == [], "console errors and warnings"
        for response in self.documents:
            if not response.url.startswith(self.hub + "/"):
                continue  # another site's page: its policy is its own business
            headers = await response.all_headers()
            assert "default-src 'none'" in headers.get("content-security-policy", ""), response.url
            assert headers.get("x-content-type-options") == "nosniff", response.url


@contextlib.asynccontextmanager
async def watched(browser: Browser, hub: RunningHub) -> AsyncIterator[tuple[Page, PolicyWatch]]:
    """A page in a context of its own; on the way out, fails on anything its policies refused."""
    context: BrowserContext = await browser.new_context()
    watch = PolicyWatch(hub.http)
    await context.expose_binding("reportViolation", lambda _source, text: watch.violations.append(text))
    await context.add_init_script(REPORT_VIOLATIONS)
    context.on("console", watch.on_console)
    context.on("weberror", lambda error: watch.errors.append(str(error.error)))
    context.on("response", watch.on_response)
    try:
        yield await context.new_page(), watch
        await watch.assert_clean()
    finally:
        await context.close()


async def portal_login(page: Page, hub: RunningHub, email: str, password: str) -> None:
    await page.goto(f"{hub.http}/portal/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Widget Setup")).to_be_visible()


async def assert_styled(page: Page) -> None:
    """The stylesheet applied: the body has the portal's background, not the browser's white."""
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(245, 246, 250)", page.url


async def test_every_portal_page_works_under_its_policy_for_an_owner_with_the_live_preview_chatting(
    hub: RunningHub, chromium: Chromium
) -> None:
    tenant = await hub.tenant()
    await create_user(
        hub.node.engine, tenant_id=tenant.id, email="owner@csp.example.com", password="portal-pass", role="owner"
    )
    async with chromium() as browser, watched(browser, hub) as (page, watch):
        await portal_login(page, hub, "owner@csp.example.com", "portal-pass")
        await assert_styled(page)

        # Widget Setup's live preview: the real widget, in a frame of the hub's own that allows no inline style or
        # script either; it opens at once.
        widget = page.frame_locator("#widget-preview").locator("[data-bob-widget]")
        await widget.get_by_role("textbox").fill("hello")
        await widget.get_by_role("textbox").press("Enter")
        await expect(widget.locator(".m.ai .t").last).to_contain_text("How can I help you today?")
        await expect(widget.locator(".m.visitor .t")).to_have_text(["hello"])
        launcher_color = await widget.locator(".h").evaluate("node => getComputedStyle(node).backgroundColor")
        assert launcher_color == "rgb(36, 89, 216)", "the widget's constructed stylesheet applied"
        await page.get_by_label("New key for origins (one per line)").fill("https://shop.example.com")
        await page.get_by_role("button", name="Add key").click()
        await expect(page.locator("#keys tbody tr", has_text="https://shop.example.com")).to_have_count(1)

        await page.get_by_role("link", name="Team").click()
        await expect(page.locator("#seats")).to_have_text("1 of 3")
        await page.get_by_role("link", name="Personas").click()
        new = page.locator("#new-persona")
        await new.get_by_label("Name").fill("Ada")
        await new.get_by_label("System prompt").fill("You are Ada.")
        await new.get_by_label("Make it the active persona").check()
        await new.get_by_role("button", name="Add persona").click()
        await expect(page.locator("#personas tbody tr[data-persona]", has_text="Ada")).to_contain_text("Ada (active)")
        await page.get_by_role("link", name="Webhooks").click()
        await expect(page.get_by_label("session.created")).to_be_checked()
        await page.get_by_role("link", name="Plan").click()
        await expect(page.locator("progress")).to_be_visible()
        await page.get_by_role("link", name="Analytics").click()
        await expect(page.locator("#per-day-chart")).to_be_visible()
        await assert_styled(page)
        await page.get_by_role("navigation", name="Language").get_by_role("link", name="Polski").click()
        await expect(page.get_by_role("heading", name="Analityka")).to_be_visible()
        await page.get_by_role("navigation", name="Język").get_by_role("link", name="English").click()
        await page.get_by_role("button", name="Log out").click()
        await expect(page).to_have_url(re.compile("/portal/login$"))
    assert len(watch.documents) >= 9


async def test_every_portal_page_works_under_its_policy_for_a_platform_admin(
    hub: RunningHub, chromium: Chromium
) -> None:
    platform = await create_tenant(hub.node.engine, name="Office16852", business_id=PLATFORM_BUSINESS_ID)
    await create_user(
        hub.node.engine, tenant_id=platform.id, email="root@csp.example.com", password="portal-pass", role="admin"
    )
    async with chromium() as browser, watched(browser, hub) as (page, watch):
        await portal_login(page, hub, "root@csp.example.com", "portal-pass")
        await page.goto(f"{hub.http}/portal/tenants")
        await page.get_by_label("Business name").fill("Piekarnia")
        await page.get_by_label("business_id (a slug like acme-shop)").fill("piekarnia-csp")
        await page.get_by_label("Owner's email").fill("owner@piekarnia-csp.example.com")
        await page.get_by_label("Owner's first password").fill("owner-pass-1")
        await page.get_by_role("button", name="Register tenant").click()
        await expect(page.locator("#tenant-result")).to_contain_text("Registered piekarnia-csp")
        for path in ("/portal/widget", "/portal/team", "/portal/personas", "/portal/webhooks", "/portal/plan"):
            await page.goto(f"{hub.http}{path}")
            await expect(page.locator("h1")).to_be_visible()
            await assert_styled(page)
        await page.goto(f"{hub.http}/portal/analytics")
        await expect(page.locator("#credits-chart")).to_be_visible()
    assert len(watch.documents) >= 8


async def test_mission_control_works_under_its_policy_with_a_live_conversation(
    hub: RunningHub, chromium: Chromium
) -> None:
    tenant = await hub.tenant()
    email = await agent_account(hub.node.engine, tenant.id, "Anna")
    async with chromium() as browser, watched(browser, hub) as (page, _):
        await page.goto(f"{hub.http}/mission-control")
        await expect(page).to_have_url(re.compile("/mission-control/login$"))
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.locator("#connection")).to_have_text("Connected")  # its WebSocket passed connect-src
        background = await page.evaluate("getComputedStyle(document.querySelector('.top')).backgroundColor")
        assert background == "rgb(29, 35, 48)"
        async with visitor(hub.ws, tenant.id) as client:
            await client.say("hello")
            await client.ai_reply()
            item = page.locator(f'li.session[data-session-id="{client.ready["session_id"]}"]')
            await item.click()
            await expect(page.locator(".msg.ai .body")).to_have_count(1)
            await page.get_by_role("button", name="Take over").click()
            await expect(page.locator("#mode")).to_have_text("human")
            await page.get_by_label("Reply", exact=True).fill("Anna here.")
            await page.get_by_label("Reply", exact=True).press("Enter")
            await client.until(lambda frame: frame["type"] == "message" and frame["role"] == "agent")
            await page.get_by_role("button", name="Hand back").click()
            await expect(page.locator("#mode")).to_have_text("AI")


async def test_docs_works_under_its_policy_in_english_and_polish(hub: RunningHub, chromium: Chromium) -> None:
    async with chromium() as browser, watched(browser, hub) as (page, watch):
        await page.goto(f"{hub.http}/docs")
        await expect(page.locator("#pricing-table")).to_contain_text("$249")
        await assert_styled(page)
        await page.get_by_role("link", name="Polski").click()
        await expect(page.get_by_role("heading", name="Cennik")).to_be_visible()
        await assert_styled(page)
    assert len(watch.documents) == 2


async def test_docs_can_be_framed_by_another_site_and_the_portal_and_mission_control_cannot(
    hub: RunningHub, site: Site, chromium: Chromium
) -> None:
    frames = "".join(
        f'<iframe id="{name}" src="{hub.http}{path}"></iframe>'
        for name, path in (("docs", "/docs"), ("portal", "/portal/login"), ("dashboard", "/mission-control/login"))
    )
    site.pages["/"] = (f"<!doctype html><title>Shop</title>{frames}", {})
    async with chromium() as browser:
        page = await browser.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        await page.goto(f"{site.origin}/")
        docs = page.frame_locator("#docs")
        await expect(docs.locator("#pricing-table")).to_be_visible()
        for name in ("portal", "dashboard"):
            await expect(page.frame_locator(f"#{name}").get_by_label("Password")).to_have_count(0)
        refused = [text for text in console if "frame-ancestors 'none'" in text]
        assert len(refused) == 2, console


async def test_the_widget_runs_on_a_host_page_with_the_strict_policy_docs_deploy_describes(
    hub: RunningHub, site: Site, chromium: Chromium
) -> None:
    """What docs/DEPLOY.md tells a site to allow is enough: the hub for scripts and connections, nothing inline,
    and the widget writes no HTML (so a site that enforces Trusted Types keeps it too)."""
    tenant = await hub.tenant()
    await create_widget_key(hub.node.engine, tenant.id, [site.origin])
    hub.node.tenants.forget(tenant.id)
    policy = (
        f"default-src 'none'; script-src {hub.http}; connect-src {hub.http} {hub.ws}; base-uri 'none'; "
        "require-trusted-types-for 'script'"
    )
    tag = f'<script src="{hub.http}/widget/{tenant.id}/widget.js"></script>'
    body = f"<!doctype html><title>Shop</title><h1>Shop</h1>{tag}"
    site.pages["/"] = (body, {"Content-Security-Policy": policy})
    async with chromium() as browser, watched(browser, hub) as (page, _):
        await page.goto(f"{site.origin}/")
        widget = page.locator("[data-bob-widget]")
        await widget.get_by_role("button", name=re.compile("chat", re.I)).click()
        await widget.get_by_role("textbox").fill("hello")
        await widget.get_by_role("textbox").press("Enter")
        await expect(widget.locator(".m.ai .t").last).to_contain_text("How can I help you today?")
        launcher_color = await widget.locator(".h").evaluate("node => getComputedStyle(node).backgroundColor")
        assert launcher_color == "rgb(36, 89, 216)", "the widget's stylesheet applied without 'unsafe-inline'"
