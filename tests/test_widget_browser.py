"""The embeddable widget in a real browser: headless Chromium (Debian's) driven by Playwright.

A host page on another origin than the hub embeds the one tag of the product page; the hub runs in
this process with a per-token delay so that streaming is observable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    WebSocket,
    WebSocketRoute,
    expect,
)
from playwright.async_api import (
    Route as PageRoute,
)
from sqlalchemy import make_url, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from hub.chat.identity import bound_session_id, visitor_id_from_token
from hub.settings import Settings
from hub.store import knowledge as knowledge_store
from hub.store.database import open_engine
from hub.store.models import Tenant
from hub.store.personas import list_personas, update_persona
from hub.store.tables import messages
from tests.accounts import create_widget_key
from tests.conftest import RunningHub, serve_hub
from tests.proxy import Proxy, proxy_to
from tests.services import free_port

GREETING_REPLY = "Hi! I'm Bob, the assistant of Acme Test. How can I help you today?"
FALLBACK_REPLY = (
    "I'm not sure about that, and I'd rather not guess. Would you like me to connect you with a person from "
    'Acme Test? Just say "human" and someone from the team will join.'
)
GREETING = "Hi! I'm Bob, the assistant of Acme Test."
LONG_ANSWER = " ".join(f"Parcels leave our warehouse within {n} days of your order." for n in range(1, 9))
CHAT = re.compile("chat", re.I)

# Hostile host CSS: it must style the page's own button and leave the widget alone.
HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme shop</title><link rel="icon" href="data:,">
<style>
  button {{ background: red !important; font-size: 40px !important; }}
  div, p, textarea {{ color: lime !important; font-family: serif !important; }}
</style>
</head><body>
<h1>Acme shop</h1><button id="buy">Buy</button>
<script src="{hub}/widget/{tenant}/widget.js" async></script>
</body></html>
"""


async def host_page(request: Request) -> HTMLResponse:
    return HTMLResponse(HOST_PAGE.format(hub=request.query_params["hub"], tenant=request.query_params["tenant"]))


@contextlib.asynccontextmanager
async def serve_pages() -> AsyncIterator[int]:
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/", host_page)]), host="127.0.0.1", port=free_port(), log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield server.config.port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


@dataclass
class Shops:
    allowed: str  # the origin the tenants' widget keys allow
    other: str  # an origin no tenant allows


@pytest_asyncio.fixture(scope="module")
async def shops() -> AsyncIterator[Shops]:
    async with serve_pages() as allowed, serve_pages() as other:
        yield Shops(f"http://127.0.0.1:{allowed}", f"http://127.0.0.1:{other}")


@pytest.fixture
async def live_hub(settings: Settings) -> AsyncIterator[RunningHub]:
    async with serve_hub(settings.with_overrides(ai_token_delay_ms=40)) as running:
        yield running


@dataclass
class Visit:
    """One clean browser context on a host page, with everything the page threw, logged or sent."""

    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)
    console: list[ConsoleMessage] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    sockets: list[list[dict[str, Any]]] = field(default_factory=list)  # frames received, per socket
    sent: list[dict[str, Any]] = field(default_factory=list)  # frames the page sent, on every socket

    @property
    def launcher(self) -> Locator:
        return self.page.get_by_role("button", name=CHAT)

    @property
    def log(self) -> Locator:
        return self.page.get_by_role("log")

    @property
    def textbox(self) -> Locator:
        return self.page.get_by_role("textbox")

    def bubbles(self, role: str) -> Locator:
        return self.log.locator(f".m.{role} .t")

    async def send(self, text: str) -> None:
        await self.textbox.fill(text)
        await self.textbox.press("Enter")

    async def texts(self) -> list[str]:
        return await self.log.locator(".m .t").all_text_contents()

    async def shadow(self, body: str) -> Any:
        """Runs ``body`` (a function body) in the page with ``root`` bound to the widget's shadow root."""
        return await self.page.evaluate(
            f"() => {{ const root = document.querySelector('[data-bob-widget]').shadowRoot; {body} }}"
        )

    async def watch_ai(self) -> None:
        """From now on, record every text the newest AI bubble shows and whether 'is typing' is shown."""
        await self.shadow(
            "window.seen = [];"
            "new MutationObserver(() => { const ai = root.querySelectorAll('.m.ai .t');"
            " window.seen.push([ai.length, ai[ai.length - 1].textContent, /is typing/.test(root.textContent)]); })"
            ".observe(root, {subtree: true, childList: true, characterData: true});"
        )

    async def seen(self) -> list[list[Any]]:
        seen: list[list[Any]] = await self.page.evaluate("window.seen")
        return seen

    async def stored(self) -> dict[str, Any]:
        stored: dict[str, Any] = await self.page.evaluate(
            "() => JSON.parse(localStorage.getItem(Object.keys(localStorage).find(k => k.startsWith('bob-widget:'))))"
        )
        return stored


@contextlib.asynccontextmanager
async def visit(
    browser: Browser,
    origin: str,
    hub: RunningHub,
    tenant: Tenant,
    *,
    init_script: str = "",
    ws_route: Callable[[WebSocketRoute], Any] | None = None,
    fake_clock: bool = False,
    **options: Any,
) -> AsyncIterator[Visit]:
    context = await browser.new_context(**options)
    if fake_clock:
        await context.clock.install()
    if init_script:
        await context.add_init_script(init_script)
    page = await context.new_page()
    if ws_route is not None:
        await page.route_web_socket(re.compile("/ws/visitor/"), ws_route)
    current = Visit(context, page)
    page.on("pageerror", lambda error: current.errors.append(str(error)))
    page.on("console", lambda message: current.console.append(message))

    async def on_dialog(dialog: Dialog) -> None:
        current.dialogs.append(dialog.message)
        await dialog.dismiss()

    def on_websocket(socket: WebSocket) -> None:
        frames: list[dict[str, Any]] = []
        current.sockets.append(frames)
        socket.on("framereceived", lambda payload: frames.append(json.loads(payload)))
        socket.on("framesent", lambda payload: current.sent.append(json.loads(payload)))

    page.on("dialog", on_dialog)
    page.on("websocket", on_websocket)
    try:
        await page.goto(f"{origin}/?hub={hub.http}&tenant={tenant.id}")
        yield current
        assert current.errors == [], "the widget threw at the host page"
        assert current.dialogs == [], "no script of a message ever ran"
    finally:
        await context.close()


async def widget_tenant(hub: RunningHub, origin: str, **config: Any) -> Tenant:
    tenant = await hub.tenant(**config)
    await create_widget_key(hub.node.engine, tenant.id, [origin])
    hub.node.tenants.forget(tenant.id)
    return tenant


async def history(hub: RunningHub, tenant: Tenant, session_id: str) -> list[tuple[str, str]]:
    return [(message.role, message.text) for message in await hub.node.chat.history(tenant.id, session_id)]


async def stored_as(hub: RunningHub, tenant: Tenant, session_id: str, expected: list[tuple[str, str]]) -> None:
    """The session's stored history becomes ``expected``: the widget shows a streamed reply's last token a moment
    before the hub has committed the reply (the stored ``message`` frame follows)."""
    stored = await history(hub, tenant, session_id)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            while stored != expected:
                await asyncio.sleep(0.05)
                stored = await history(hub, tenant, session_id)
    assert stored == expected


async def test_reply_streams_token_by_token_and_history_survives_reload(
    browser: Browser, shops: Shops, live_hub: RunningHub
) -> None:
    tenant = await widget_tenant(live_hub, shops.allowed)
    async with visit(browser, shops.allowed, live_hub, tenant) as v:
        await v.launcher.click()
        await expect(v.textbox).to_be_focused()
        await v.watch_ai()
        await v.send("hello")
        await expect(v.bubbles("ai").last).to_have_text(GREETING_REPLY)
        seen = await v.seen()
        shown = [text for count, text, _ in seen if count == 2]
        assert all(GREETING_REPLY.startswith(text) for text in shown), shown
        assert len(set(shown)) >= 5, f"the reply grew token by token: {shown}"
        assert [len(text) for text in shown] == sorted(len(text) for text in shown)
        assert any(typing for _, _, typing in seen), "a typing indicator was shown"
        await expect(v.page.get_by_text("Bob is typing")).to_have_count(0)
        await expect(v.bubbles("visitor")).to_have_text(["hello"])

        await v.page.reload()
        # The panel stays open across reloads and the transcript is rebuilt from the hub's replay.
        await expect(v.bubbles("ai")).to_have_count(2)
        assert await v.texts() == [GREETING, "hello", GREETING_REPLY]


async def test_network_drop_mid_reply_resumes_without_duplicates_or_gaps(
    browser: Browser, shops: Shops, live_hub: RunningHub
) -> None:
    tenant = await widget_tenant(live_hub, shops.allowed, faq=[{"question": "shipping", "answer": LONG_ANSWER}])
    async with visit(browser, shops.allowed, live_hub, tenant) as v:
        await v.launcher.click()
        await v.watch_ai()
        await v.send("shipping")
        await expect(v.bubbles("ai")).to_have_count(2)
        await expect(v.bubbles("ai").nth(1)).to_have_text(re.compile(r"^(\S+ ){3}"))  # a few tokens in
        await v.context.set_offline(True)
        await expect(v.page.get_by_text("Connection lost. Reconnecting…")).to_be_visible()
        await v.context.set_offline(False)
        await expect(v.bubbles("ai").last).to_have_text(LONG_ANSWER, timeout=10_000)
        shown = [text for count, text, _ in await v.seen() if count == 2]
        assert all(LONG_ANSWER.startswith(text) for text in shown), "nothing shown twice, nothing skipped"
        # The second socket resumed after the last seq seen and got the reply so far from token 0.
        resumed = v.sockets[-1]
        assert resumed[0]["type"] == "ready" and any(f["type"] == "token" and f["index"] == 0 for f in resumed)
        assert await v.texts() == [GREETING, "shipping", LONG_ANSWER]

        # A message written while offline waits, then goes out once the connection is back.
        await v.context.set_offline(True)
        await expect(v.page.get_by_text("Connection lost. Reconnecting…")).to_be_visible()
        await v.send("hello")
        await expect(v.log.locator(".m.visitor.pending")).to_have_count(1)
        await v.context.set_offline(False)
        await expect(v.bubbles("ai").last).to_have_text(GREETING_REPLY)
        await expect(v.log.locator(".m.visitor.pending")).to_have_count(0)
        assert await v.texts() == [GREETING, "shipping", LONG_ANSWER, "hello", GREETING_REPLY]
        session_id = (await v.stored())["sid"]
    await stored_as(
        live_hub,
        tenant,
        session_id,
        [
            ("visitor", "shipping"),
            ("ai", LONG_ANSWER),
            ("visitor", "hello"),
            ("ai", GREETING_REPLY),
        ],
    )


async def test_a_message_whose_echo_was_lost_is_resent_with_the_same_client_id(
    browser: Browser, shops: Shops, live_hub: RunningHub
) -> None:
    tenant = await widget_tenant(live_hub, shops.allowed)
    sent: list[dict[str, Any]] = []
    cut = {"armed": True}
    closing: set[asyncio.Future[None]] = set()

    def route(page_side: WebSocketRoute) -> None:
        hub_side = page_side.connect_to_server()
        dead = {"now": False}

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message)
            sent.append(frame)
            hub_side.send(message)
            if frame["type"] == "message" and cut["armed"]:
                # The hub stores the message, but its echo never reaches the page: the connection drops first.
                cut["armed"] = False
                dead["now"] = True
                closing.add(asyncio.ensure_future(page_side.close(code=4000, reason="network cut")))

        def from_hub(message: str | bytes) -> None:
            if not dead["now"]:
                page_side.send(message)

        page_side.on_message(from_page)
        hub_side.on_message(from_hub)

    async with visit(browser, shops.allowed, live_hub, tenant, ws_route=route) as v:
        await v.launcher.click()
        await v.send("hello")
        await expect(v.bubbles("ai").last).to_have_text(GREETING_REPLY)
        await expect(v.bubbles("visitor")).to_have_text(["hello"])
        assert await v.texts() == [GREETING, "hello", GREETING_REPLY]
        session_id = (await v.stored())["sid"]
    messages = [frame for frame in sent if frame["type"] == "message"]
    assert len(messages) == 2 and messages[0]["client_id"] == messages[1]["client_id"], messages
    await stored_as(live_hub, tenant, session_id, [("visitor", "hello"), ("ai", GREETING_REPLY)])


async def test_a_streamed_http_answer_cut_before_its_end_still_leaves_the_page_its_visitor(
    browser: Browser, shops: Shops, live_hub: RunningHub
) -> None:
    """The answer's last event (``done``) never arrives: the page keeps the visitor token of the answer's header,
    so its next message continues the same conversation."""
    tenant = await widget_tenant(live_hub, shops.allowed)
    block = "window.WebSocket = function () { throw new DOMException('blocked by the proxy', 'SecurityError'); };"
    async with visit(browser, shops.allowed, live_hub, tenant, init_script=block) as v:

        async def without_done(route: PageRoute) -> None:
            answer = await route.fetch()
            body = (await answer.text()).split("event: done")[0]
            await route.fulfill(response=answer, body=body)

        await v.page.route("**/api/widget/chat", without_done)
        await v.launcher.click()
        await v.send("hello")
        await expect(v.bubbles("ai").last).to_have_text(GREETING_REPLY)
        token = (await v.stored())["vt"]
        await v.page.unroute("**/api/widget/chat")
        await v.send("shipping costs")
        await expect(v.bubbles("ai").last).to_have_text(FALLBACK_REPLY)
        stored = await v.stored()
        visitor_id = visitor_id_from_token(live_hub.node.settings.secret_key, token)
        assert visitor_id is not None
        session_id = bound_session_id(live_hub.node.settings.secret_key, tenant.id, visitor_id, stored["hsid"])
        await stored_as(
            live_hub,
            tenant,
            session_id,
            [("visitor", "hello"), ("ai", GREETING_REPLY), ("visitor", "shipping costs"), ("ai", FALLBACK_REPLY)],
        )


async def test_blocked_websockets_fall_back_to_http_streaming(
    browser: Browser, shops: Shops, live_hub: RunningHub
) -> None:
    tenant = await widget_tenant(live_hub, shops.allowed)
    block = (
        "window.wsAttempts = 0; window.WebSocket = function () {"
        " window.wsAttempts++; throw new DOMException('blocked by the proxy', 'SecurityError'); };"
    )
    async with visit(browser, shops.allowed, live_hub, tenant, init_script=block) as v:
        await v.launcher.click()
        await v.watch_ai()
        await v.send("hello")
        await expect(v.bubbles("ai").last).to_have_text(GREETING_REPLY)
        shown = [text for count, text, _ in await v.seen() if count == 2]
        assert len(set(shown)) >= 3 and all(GREETING_REPLY.startswith(text) for text in shown), shown
        await v.send("shipping costs")
        await expect(v.bubbles("ai").last).to_have_text(FALLBACK_REPLY)
        assert await v.page.evaluate("window.wsAttempts") == 2
        stored = await v.stored()
        assert stored["pending"] == []
        # Both turns went to one conversation: the widget sent back the visitor token the first answer gave it.
        visitor_id = visitor_id_from_token(live_hub.node.settings.secret_key, stored["vt"])
        assert visitor_id is not None
        session_id = bound_session_id(live_hub.node.settings.secret_key, tenant.id, visitor_id, stored["hsid"])
        await stored_as(
            live_hub,
            tenant,
            session_id,
            [
                ("visitor", "hello"),
                ("ai", GREETING_REPLY),
                ("visitor", "shipping costs"),
                ("ai", FALLBACK_REPLY),
            ],
        )
        await v.page.reload()
        await expect(v.bubbles("ai")).to_have_count(3)
        assert await v.texts() == [GREETING, "hello", GREETING_REPLY, "shipping costs", FALLBACK_REPLY]


async def test_untrusted_text_is_rendered_as_text_and_links_are_safe(
    browser: Browser, shops: Shops, live_hub: RunningHub
) -> None:
    answer = "See https://shop.example.com/hours, not javascript:alert(2) or <b>this</b>."
    tenant = await widget_tenant(live_hub, shops.allowed, faq=[{"question": "opening hours", "answer": answer}])
    async with visit(browser, shops.allowed, live_hub, tenant) as v:
        await v.launcher.click()
        attack = "<img src=x onerror=alert(1)>"
        await v.send(attack)
        await expect(v.bubbles("ai").last).to_have_text(FALLBACK_REPLY)
        await expect(v.bubbles("visitor")).to_have_text([attack])
        await v.send("opening hours?")
        await expect(v.bubbles("ai").last).to_have_text(answer)
        assert await v.shadow("return root.querySelectorAll('img, b, script').length") == 0
        link = v.log.get_by_role("link")
        await expect(link).to_have_count(1)
        await expect(link).to_have_text("https://shop.example.com/hours")
        await expect(link).to_have_attribute("href", "https://shop.example.com/hours")
        await expect(link).to_have_attribute("rel", "noopener noreferrer")
        await expect(link).to_have_attribute("target", "_blank")


async def test_a_reply_from_knowledge_shows_its_sources_as_links_under_it(
    browser: Browser, shops: Shops, live_hub: RunningHub
) -> None:
    tenant = await widget_tenant(live_hub, shops.allowed)
    async with live_hub.node.engine.begin() as connection:
        entry = {"title": "Electric bikes", "body": "Yes, we repair e-bikes.", "language": "en", "enabled": True}
        await knowledge_store.insert_entries(
            connection, tenant.id, [{**entry, "url": "https://shop.example.com/ebikes"}]
        )
    live_hub.node.knowledge.changed(tenant.id)
    for width in (1280, 360):
        async with visit(browser, shops.allowed, live_hub, tenant, viewport={"width": width, "height": 720}) as v:
            await v.launcher.click()
            await v.send("Hi! Do you repair e-bikes?")
            await expect(v.bubbles("ai").last).to_contain_text("Yes, we repair e-bikes.")
            link = v.log.get_by_role("link", name="Electric bikes")
            await expect(link).to_have_attribute("href", "https://shop.example.com/ebikes")
            await expect(link).to_have_attribute("rel", "noopener noreferrer")
            await expect(v.log.get_by_text("Sources:")).to_be_visible()
            await v.page.reload()  # the panel stays open; the hub's replay brings the sources with the reply
            await expect(v.log.get_by_role("link", name="Electric bikes")).to_be_visible()


async def test_origin_not_allowed_gets_a_polite_refusal(browser: Browser, shops: Shops, live_hub: RunningHub) -> None:
    tenant = await widget_tenant(live_hub, shops.allowed)
    async with visit(browser, shops.other, live_hub, tenant) as v:
        await v.launcher.click()
        await expect(v.page.get_by_text("Chat is not available on this site.")).to_be_visible()
        await expect(v.log).to_have_count(0)
        await expect(v.textbox).to_have_count(0)
        await v.page.wait_for_timeout(1500)  # would any retry come?
        assert len(v.sockets) == 1, "a refused widget does not retry"
        await v.page.keyboard.press("Escape")
        await expect(v.launcher).to_be_focused()
        problems = [m.text for m in v.console if m.type in ("error", "warning")]
        assert len(problems) == 1 and "not available" in problems[0], problems


async def test_keyboard_focus_trap_enter_and_escape(browser: Browser, shops: Shops, live_hub: RunningHub) -> None:
    tenant = await widget_tenant(live_hub, shops.allowed)
    before = "window.before = new Set(Object.getOwnPropertyNames(window));"
    async with visit(browser, shops.allowed, live_hub, tenant, init_script=before) as v:
        await expect(v.launcher).to_be_visible()
        added = await v.page.evaluate("Object.getOwnPropertyNames(window).filter(n => !before.has(n))")
        assert added == ["before", "BobWidget"], "one global name, nothing else"
        await v.launcher.focus()
        await v.page.keyboard.press("Enter")
        await expect(v.textbox).to_be_focused()
        await v.page.keyboard.type("line one")
        await v.page.keyboard.press("Shift+Enter")
        await v.page.keyboard.type("line two")
        await expect(v.textbox).to_have_value("line one\nline two")
        await v.page.keyboard.press("Enter")
        await expect(v.bubbles("visitor")).to_have_text(["line one\nline two"])
        await expect(v.textbox).to_have_value("")
        send = v.page.get_by_role("button", name="Send")
        close = v.page.get_by_role("button", name="Close")
        await v.page.keyboard.press("Tab")
        await expect(send).to_be_focused()
        await v.page.keyboard.press("Tab")
        await expect(close).to_be_focused()  # wrapped around inside the panel
        await v.page.keyboard.press("Shift+Tab")
        await expect(send).to_be_focused()
        for _ in range(5):
            await v.page.keyboard.press("Tab")
            assert await v.shadow("return root.querySelector('[role=dialog]').contains(root.activeElement)")
        await v.page.keyboard.press("Escape")
        await expect(v.page.get_by_role("dialog")).to_have_count(0)
        await expect(v.launcher).to_be_focused()
        await v.page.evaluate("BobWidget.open()")
        await expect(v.page.get_by_role("dialog")).to_be_visible()
        await v.page.evaluate("BobWidget.close()")
        await expect(v.launcher).to_be_visible()


async def test_fits_a_360px_phone_and_host_css_cannot_restyle_it(
    browser: Browser, shops: Shops, live_hub: RunningHub
) -> None:
    tenant = await widget_tenant(live_hub, shops.allowed)
    async with visit(browser, shops.allowed, live_hub, tenant, viewport={"width": 360, "height": 640}) as v:
        host_button = await v.page.locator("#buy").evaluate("b => getComputedStyle(b).backgroundColor")
        launcher = await v.launcher.evaluate("b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).fontSize]")
        assert host_button == "rgb(255, 0, 0)" and launcher[0] == "rgb(36, 89, 216)", (host_button, launcher)
        await v.launcher.click()
        panel = await v.page.get_by_role("dialog").bounding_box()
        assert panel is not None and panel["x"] == 0 and panel["width"] == 360 and panel["height"] == 640
        for control in (
            v.textbox,
            v.page.get_by_role("button", name="Send"),
            v.page.get_by_role("button", name="Close"),
        ):
            box = await control.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, box
        await v.send("hello")
        await expect(v.bubbles("ai").last).to_have_text(GREETING_REPLY)
        bubble = await v.bubbles("ai").last.evaluate("t => getComputedStyle(t).color")
        assert bubble != "rgb(0, 255, 0)", "host text colour does not leak into the panel"
        width = await v.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, "no horizontal scrolling"


async def test_polish_strings_from_tenant_setting_or_browser_language(
    browser: Browser, shops: Shops, live_hub: RunningHub
) -> None:
    polish = await widget_tenant(live_hub, shops.allowed, language="pl")
    automatic = await widget_tenant(live_hub, shops.allowed)
    for tenant, locale in ((polish, "en-US"), (automatic, "pl-PL")):
        async with visit(browser, shops.allowed, live_hub, tenant, locale=locale) as v:
            await expect(v.launcher).to_have_accessible_name("Otwórz chat z asystentem Bob")
            await v.launcher.click()
            await expect(v.page.get_by_role("dialog", name="Chat z asystentem Bob")).to_be_visible()
            await expect(v.page.get_by_role("textbox", name="Twoja wiadomość")).to_be_focused()
            await expect(v.page.get_by_role("button", name="Wyślij")).to_be_visible()
            await expect(v.page.get_by_role("button", name="Zamknij")).to_be_visible()
    async with visit(browser, shops.other, live_hub, polish) as v:
        await v.launcher.click()
        await expect(v.page.get_by_text("Chat nie jest dostępny na tej stronie.")).to_be_visible()


async def test_agent_and_system_messages_and_unread_badge(browser: Browser, shops: Shops, live_hub: RunningHub) -> None:
    tenant = await widget_tenant(live_hub, shops.allowed)
    async with visit(browser, shops.allowed, live_hub, tenant) as v:
        await v.launcher.click()
        await v.send("human please")
        await expect(v.bubbles("ai")).to_have_count(2)
        await expect(v.bubbles("ai").last).to_have_text(re.compile("someone will join"))
        await expect(v.log).to_have_attribute("aria-busy", "false")  # the reply is whole, not streaming: read
        await expect(v.log.locator(".m.system")).to_have_text(re.compile("has been asked to join"))  # recorded
        await v.page.get_by_role("button", name="Close").click()
        session_id = (await v.stored())["sid"]
        await live_hub.node.chat.post(tenant.id, session_id, "system", "Ann joined the chat")
        await live_hub.node.chat.post(tenant.id, session_id, "agent", "Hello, Ann here.", meta={"author": "Ann"})
        await expect(v.launcher).to_have_accessible_name("Open chat with Bob (2 unread)")
        await v.launcher.click()
        await expect(v.log.locator(".m.system").last).to_have_text("Ann joined the chat")
        await expect(v.log.locator(".m.agent")).to_have_text("AnnHello, Ann here.")
        await v.page.get_by_role("button", name="Close").click()
        await expect(v.launcher).to_have_accessible_name("Open chat with Bob")


async def test_a_message_the_hub_refuses_comes_back_to_the_message_box(
    browser: Browser, shops: Shops, settings: Settings
) -> None:
    async with serve_hub(settings.with_overrides(max_message_chars=20)) as hub:
        tenant = await widget_tenant(hub, shops.allowed)
        async with visit(browser, shops.allowed, hub, tenant) as v:
            await v.launcher.click()
            too_long = "this message is longer than twenty characters"
            await v.send(too_long)
            await expect(v.page.get_by_text("Your message could not be sent. Please try again.")).to_be_visible()
            await expect(v.log.locator(".m.visitor")).to_have_count(0)
            await expect(v.textbox).to_have_value(too_long)
            assert (await v.stored())["pending"] == []
            await v.send("hello")
            await expect(v.bubbles("ai").last).to_have_text(GREETING_REPLY)
            await expect(v.page.get_by_text("could not be sent")).to_have_count(0)


# ---- the database goes away ----------------------------------------------------------------------
# A hub in this process on PostgreSQL reached through a cuttable proxy: the outage is real (the hub's
# connections are cut and new ones refused), only the network between the hub and PostgreSQL is touched.

RETRY_LIMIT = 8  # refusals in a row before the widget gives up and asks the visitor (widget.js)


@dataclass
class Outage:
    hub: RunningHub
    proxy: Proxy
    postgres_url: str  # the database itself, not through the proxy

    def begin(self) -> None:
        self.proxy.refuse()
        self.proxy.cut()

    def end(self) -> None:
        self.proxy.heal()

    async def transcript(self, tenant: Tenant, session_id: str) -> list[tuple[str, str, str | None]]:
        """The session's messages as PostgreSQL holds them (role, text, client_id), read directly."""
        engine = open_engine(self.postgres_url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    select(messages.c.role, messages.c.text, messages.c.client_id)
                    .where(messages.c.tenant_id == tenant.id, messages.c.session_id == session_id)
                    .order_by(messages.c.seq)
                )
                return [(row.role, row.text, row.client_id) for row in rows]
        finally:
            await engine.dispose()


@pytest.fixture
async def outage(settings: Settings, postgres_url: str) -> AsyncIterator[Outage]:
    database = make_url(postgres_url)
    async with proxy_to(database.host or "127.0.0.1", database.port or 5432) as proxy:
        through_proxy = database.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        async with serve_hub(settings.with_overrides(database_url=through_proxy, ai_token_delay_ms=40)) as hub:
            yield Outage(hub, proxy, postgres_url)


async def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.05)


def received(v: Visit, frame_type: str, code: str | None = None) -> int:
    return sum(f["type"] == frame_type and f.get("code") == code for frames in v.sockets for f in frames)


async def test_messages_refused_in_a_database_outage_are_sent_again_in_order(
    browser: Browser, shops: Shops, outage: Outage
) -> None:
    tenant = await widget_tenant(outage.hub, shops.allowed)
    async with visit(browser, shops.allowed, outage.hub, tenant) as v:
        await v.launcher.click()
        await eventually(lambda: received(v, "ready") == 1, "the socket is ready")
        outage.begin()
        await v.send("hello")
        await eventually(lambda: received(v, "error", "not_stored") == 1, "the hub refused the first message")
        await v.send("shipping costs")
        pending = v.log.locator(".m.visitor.pending")
        await expect(pending).to_have_count(2)
        await expect(pending.first.locator(".st")).to_have_text("Not sent yet. Retrying…")
        await expect(pending.last.locator(".st")).to_have_text("Waiting to send…")
        await eventually(lambda: received(v, "error", "not_stored") >= 2, "the first message was sent again")
        outage.end()

        await expect(pending).to_have_count(0, timeout=20_000)
        await expect(v.bubbles("visitor")).to_have_text(["hello", "shipping costs"])
        state = await v.stored()
        assert state["pending"] == []
        # One reply may answer both messages, or a second may follow the first: wait until the store and the
        # widget agree and nothing streams.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while True:
            shown = await v.texts()
            stored = await outage.transcript(tenant, state["sid"])
            busy = await v.log.get_attribute("aria-busy")
            if stored[-1][0] == "ai" and busy == "false" and shown == [GREETING] + [text for _, text, _ in stored]:
                break
            assert loop.time() < deadline, f"the widget shows what is stored, in order: {shown} vs {stored}"
            await asyncio.sleep(0.2)
    said = [(f["text"], f["client_id"]) for f in v.sent if f["type"] == "message"]
    first, second = said[0][1], said[-1][1]
    assert {text for text, cid in said if cid == first} == {"hello"} and said[-1][0] == "shipping costs"
    # The second message left only once the first was stored: every frame of the first comes before it.
    assert [cid for _, cid in said] == sorted((cid for _, cid in said), key=lambda cid: cid != first), said
    assert [row for row in stored if row[0] == "visitor"] == [
        ("visitor", "hello", first),
        ("visitor", "shipping costs", second),
    ]
    # Answered: an AI reply follows the second message (one reply may answer both: the hub's burst rule).
    assert stored[-1][0] == "ai"


async def test_messages_written_offline_go_out_after_the_reconnect_one_by_one_in_order(
    browser: Browser, shops: Shops, live_hub: RunningHub
) -> None:
    tenant = await widget_tenant(live_hub, shops.allowed)
    async with visit(browser, shops.allowed, live_hub, tenant) as v:
        await v.launcher.click()
        await eventually(lambda: received(v, "ready") == 1, "the socket is ready")
        await v.context.set_offline(True)
        await expect(v.page.get_by_text("Connection lost. Reconnecting…")).to_be_visible()
        for text in ("one", "two", "three"):
            await v.send(text)
        pending = v.log.locator(".m.visitor.pending")
        await expect(pending.locator(".st")).to_have_text(["Sending…", "Waiting to send…", "Waiting to send…"])
        await v.context.set_offline(False)
        await expect(pending).to_have_count(0, timeout=10_000)
        await expect(v.bubbles("visitor")).to_have_text(["one", "two", "three"])
        state = await v.stored()
    said = [f["text"] for f in v.sent if f["type"] == "message"]
    assert said == ["one", "two", "three"], "each sent once, the next after the hub stored the previous one"
    stored = await history(live_hub, tenant, state["sid"])
    assert [text for role, text in stored if role == "visitor"] == ["one", "two", "three"]


async def test_a_message_refused_until_the_retries_run_out_waits_for_the_visitor(
    browser: Browser, shops: Shops, outage: Outage
) -> None:
    tenant = await widget_tenant(outage.hub, shops.allowed)
    # The page's timers run on a clock the test moves forward, so the minute of backoff takes no minute.
    async with visit(browser, shops.allowed, outage.hub, tenant, fake_clock=True) as v:
        await v.launcher.click()
        await eventually(lambda: received(v, "ready") == 1, "the socket is ready")
        outage.begin()
        await v.send("hello")
        for refusal in range(1, RETRY_LIMIT + 1):
            await eventually(lambda n=refusal: received(v, "error", "not_stored") == n, f"refusal {refusal}")
            await eventually(lambda: received(v, "pong") == sum(f["type"] == "ping" for f in v.sent), "pongs")
            if refusal < RETRY_LIMIT:
                await expect(v.log.locator(".m.visitor .st")).to_have_text("Not sent yet. Retrying…")
                await v.page.clock.fast_forward(30_000)  # the longest backoff
        retry = v.log.get_by_role("button", name="Try again")
        await expect(retry).to_be_visible()
        await expect(v.log.locator(".m.visitor.failed .st")).to_have_text("Not sent.")
        await expect(v.page.get_by_text("Your message was not sent. Use “Try again” to send it.")).to_be_visible()
        await v.page.clock.fast_forward(300_000)
        await asyncio.sleep(0.5)
        assert received(v, "error", "not_stored") == RETRY_LIMIT, "given up: no more attempts on its own"

        outage.end()
        await expect(v.textbox).to_be_focused()
        await v.page.keyboard.press("Shift+Tab")  # from the message box back to the message's button
        await expect(retry).to_be_focused()
        await v.page.keyboard.press("Enter")
        await expect(v.bubbles("ai").last).to_have_text(GREETING_REPLY, timeout=10_000)
        await expect(v.log.locator(".m.visitor.pending")).to_have_count(0)
        await expect(retry).to_have_count(0)
        await expect(v.textbox).to_be_focused()
        await expect(v.page.get_by_text("was not sent")).to_have_count(0)
        state = await v.stored()
    cids = {f["client_id"] for f in v.sent if f["type"] == "message"}
    assert len(cids) == 1 and received(v, "error", "not_stored") == RETRY_LIMIT
    assert await outage.transcript(tenant, state["sid"]) == [
        ("visitor", "hello", cids.pop()),
        ("ai", GREETING_REPLY, None),
    ]


async def test_http_fallback_sends_a_rate_limited_message_again_after_retry_after(
    browser: Browser, shops: Shops, settings: Settings
) -> None:
    # One message per 10 s. The counters are sliding windows aligned to the clock, and a window's weight is
    # rounded down: the one message of the window before stops counting once a boundary passes. So the
    # first message goes right after a boundary, and the second (after the first turn) in the same window.
    async with serve_hub(settings.with_overrides(ai_token_delay_ms=40, rate_limit_session="1/10 seconds")) as hub:
        tenant = await widget_tenant(hub, shops.allowed)
        block = "window.WebSocket = function () { throw new DOMException('blocked by the proxy', 'SecurityError'); };"
        statuses: list[int] = []
        async with visit(browser, shops.allowed, hub, tenant, init_script=block) as v:
            v.page.on("response", lambda r: statuses.append(r.status) if r.request.method == "POST" else None)
            await v.launcher.click()
            await asyncio.sleep(10 - time.time() % 10)
            await v.send("hello")
            await v.send("shipping costs")  # waits for the first turn, then is refused: one message per 10 s
            await expect(v.log.locator(".m.visitor.pending .st").last).to_have_text("Not sent yet. Retrying…")
            await expect(v.bubbles("ai").last).to_have_text(FALLBACK_REPLY, timeout=15_000)
            await expect(v.log.locator(".m.visitor.pending")).to_have_count(0)
            await expect(v.textbox).to_have_value("")
            assert await v.texts() == [GREETING, "hello", GREETING_REPLY, "shipping costs", FALLBACK_REPLY]
            assert statuses[0] == 200 and statuses[-1] == 200 and 429 in statuses, statuses


async def test_a_renamed_persona_shows_at_once_in_a_widget_whose_bundle_the_browser_kept(
    browser: Browser, shops: Shops, hub: RunningHub
) -> None:
    tenant = await widget_tenant(hub, shops.allowed)
    async with httpx.AsyncClient() as http:
        kept = (await http.get(f"{hub.http}/widget/{tenant.id}/widget.js")).text  # an older copy a cache still holds
    [bob] = await list_personas(hub.node.engine, tenant.id)
    assert bob.name == "Bob" and '"assistant":"Bob"' in kept
    async with visit(browser, shops.allowed, hub, tenant) as v:
        await v.launcher.click()
        await expect(v.page.get_by_role("heading", name="Chat with Bob")).to_be_visible()
        await update_persona(hub.node.engine, tenant.id, bob.id, {"name": "Ada"}, activate=False)
        hub.node.forget_tenant(tenant.id)  # what the personas API does on every node
        await v.page.route(
            re.compile(r"/widget\.js$"), lambda route: route.fulfill(body=kept, content_type="text/javascript")
        )
        await v.page.reload()  # the panel opens again by itself, as the visitor left it
        await expect(v.page.get_by_role("heading", name="Chat with Ada")).to_be_visible()
        await expect(v.bubbles("ai").first).to_have_text("Hi! I'm Ada, the assistant of Acme Test.")
        assert v.sockets[-1][0]["type"] == "ready" and v.sockets[-1][0]["assistant"] == "Ada"
