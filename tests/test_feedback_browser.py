"""Feedback in a real browser (Debian's Chromium): a visitor rates a reply with the keyboard alone, a
"not helpful" offers a person, a closed conversation asks for stars; the owner reads the ratings on the
portal's Analytics page. Screenshots at 1280 and 360 px go to HUB_SHOTS_DIR when it is set."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import re
import time
from collections.abc import Awaitable, Callable

from playwright.async_api import Browser, Locator, Page, Request, expect
from sqlalchemy import select

from hub.chat.control import Agent
from hub.store import knowledge as knowledge_store
from hub.store.tables import message_ratings, session_ratings
from tests.accounts import create_user
from tests.conftest import RunningHub
from tests.proxy import proxy_to
from tests.test_reply_email_browser import SIZES, shoot
from tests.test_widget_browser import Shops, Visit, live_hub, shops, visit, widget_tenant  # noqa: F401  (fixtures)

QUESTION = "Hi! Do you repair e-bikes?"


async def focused(locator: Locator) -> bool:
    result: bool = await locator.evaluate("e => e.getRootNode().activeElement === e")
    return result


async def tab_to(page: Page, target: Locator, *, most: int = 15) -> None:
    """Press Tab until ``target`` has the focus: the keyboard alone reaches it."""
    for _ in range(most):
        if await focused(target):
            return
        await page.keyboard.press("Tab")
    assert await focused(target), "Tab never reached it"


async def rows(hub: RunningHub, table: object, tenant_id: str) -> list[object]:
    async with hub.node.engine.connect() as connection:
        return list(await connection.execute(select(table).where(table.c.tenant_id == tenant_id)))  # type: ignore[attr-defined]


async def test_a_visitor_rates_with_the_keyboard_is_offered_a_person_and_gives_stars_when_it_closes(
    browser: Browser,
    shops: Shops,  # noqa: F811
    live_hub: RunningHub,  # noqa: F811
) -> None:
    tenant = await widget_tenant(live_hub, shops.allowed)
    async with live_hub.node.engine.begin() as connection:
        entry = {"title": "Electric bikes", "body": "Yes, we repair e-bikes.", "language": "en", "enabled": True}
        await knowledge_store.insert_entries(connection, tenant.id, [{**entry, "url": "https://shop.example.com/e"}])
    live_hub.node.knowledge.changed(tenant.id)
    for size, viewport in SIZES.items():
        async with visit(browser, shops.allowed, live_hub, tenant, viewport=viewport) as v:
            await v.launcher.click()
            await v.send(QUESTION)
            await expect(v.bubbles("ai").last).to_contain_text("Yes, we repair e-bikes.")
            reply = v.log.locator(".m.ai").last
            rating = reply.get_by_role("group", name="Was this reply helpful?")
            helpful = rating.get_by_role("button", name="Helpful", exact=True)
            unhelpful = rating.get_by_role("button", name="Not helpful", exact=True)
            await expect(v.log.get_by_role("group", name="Was this reply helpful?")).to_have_count(
                1
            )  # not the greeting
            await expect(helpful).to_have_attribute("aria-pressed", "false")

            await v.log.focus()
            await tab_to(v.page, helpful)
            await v.page.keyboard.press("Enter")
            await expect(helpful).to_have_attribute("aria-pressed", "true")
            await v.page.keyboard.press("Tab")
            assert await focused(unhelpful)
            await v.page.keyboard.press("Enter")
            await expect(unhelpful).to_have_attribute("aria-pressed", "true")
            await expect(helpful).to_have_attribute("aria-pressed", "false")
            await expect(reply).to_contain_text("Would you like to talk to a person?")
            await shoot(v.page, f"widget-not-helpful-{size}")
            offer = reply.get_by_role("button", name="Talk to a person")
            await v.page.keyboard.press("Tab")
            assert await focused(offer)
            await v.page.keyboard.press("Enter")
            await expect(v.log.locator(".m.system")).to_have_text(re.compile("has been asked to join"))
            await expect(v.page.get_by_role("button", name="A person has been asked to join")).to_be_visible()
            await expect(reply).to_contain_text("A person from the team will answer here.")
            stored = [(row.helpful, row.sources) for row in await rows(live_hub, message_ratings, tenant.id)]  # type: ignore[attr-defined]
            assert (False, ["Electric bikes"]) in stored

            session_id = (await v.stored())["sid"]
            await live_hub.node.control.close(tenant, session_id, Agent("agent-ann", "Ann"), force=True)
            stars = v.page.get_by_role("group", name="How was this conversation?")
            await expect(stars).to_be_visible()
            await expect(v.page.get_by_label("A comment, if you like (up to 1000 characters)")).to_have_attribute(
                "maxlength", "1000"
            )
            await v.page.get_by_role("button", name="Send rating").click()
            await expect(v.page.get_by_text("Choose from 1 to 5 stars.")).to_be_visible()
            four = stars.get_by_role("button", name="4 of 5 stars")
            await tab_to(v.page, four)
            await v.page.keyboard.press("Enter")
            await expect(four).to_have_attribute("aria-pressed", "true")
            await v.page.keyboard.press("Tab")
            await v.page.keyboard.press("Tab")
            await v.page.keyboard.type("Quick answer, thanks.")
            await shoot(v.page, f"widget-stars-{size}")
            await v.page.get_by_role("button", name="Send rating").press("Enter")
            await expect(v.page.get_by_text("Thank you for your rating.")).to_be_visible()
            ratings = [(r.session_id, r.stars, r.comment) for r in await rows(live_hub, session_ratings, tenant.id)]  # type: ignore[attr-defined]
            assert (session_id, 4, "Quick answer, thanks.") in ratings
            await v.page.reload()  # rated once: not asked again for this conversation
            await expect(v.log.locator(".m.system").last).to_have_text(re.compile("closed the conversation"))
            await expect(v.page.get_by_role("group", name="How was this conversation?")).to_have_count(0)
            await expect(helpful.or_(unhelpful)).to_have_count(2)  # the reply's rating survives the reload
            await expect(unhelpful).to_have_attribute("aria-pressed", "true")

    await create_user(
        live_hub.node.engine, tenant_id=tenant.id, email="owner@fb.example.com", password="portal-pass", role="owner"
    )
    for size, viewport in SIZES.items():
        context = await browser.new_context(viewport=viewport)
        page = await context.new_page()
        await page.goto(f"{live_hub.http}/portal/login")
        await page.get_by_label("Email").fill("owner@fb.example.com")
        await page.get_by_label("Password").fill("portal-pass")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Widget Setup")).to_be_visible()
        await page.goto(f"{live_hub.http}/portal/analytics")
        await expect(page.locator("#helpful-share")).to_have_text("0 %")
        await expect(page.get_by_role("table", name="Helpful share per persona")).to_contain_text("Bob")
        sources = page.get_by_role("table", name="Knowledge entries behind unhelpful answers")
        await expect(sources.get_by_role("row", name=re.compile("Electric bikes"))).to_contain_text("2")
        await expect(page.locator("#session-ratings")).to_have_text("2")
        await expect(page.locator("#average-session-rating")).to_have_text("4.0")
        await page.locator("#feedback").scroll_into_view_if_needed()
        await shoot(page, f"analytics-feedback-{size}")
        await context.close()


async def test_with_websockets_blocked_the_widget_rates_a_reply_over_http(
    browser: Browser,
    shops: Shops,  # noqa: F811
    live_hub: RunningHub,  # noqa: F811
) -> None:
    tenant = await widget_tenant(live_hub, shops.allowed)
    async with live_hub.node.engine.begin() as connection:
        entry = {"title": "Electric bikes", "body": "Yes, we repair e-bikes.", "language": "en", "enabled": True}
        await knowledge_store.insert_entries(connection, tenant.id, [{**entry, "url": "https://shop.example.com/e"}])
    live_hub.node.knowledge.changed(tenant.id)
    block = "window.WebSocket = function () { throw new DOMException('blocked by the proxy', 'SecurityError'); };"
    async with visit(browser, shops.allowed, live_hub, tenant, init_script=block) as v:
        await v.launcher.click()
        await v.send(QUESTION)
        await expect(v.bubbles("ai").last).to_contain_text("Yes, we repair e-bikes.")
        unhelpful = v.log.get_by_role("button", name="Not helpful", exact=True)
        async with v.page.expect_response(re.compile("/api/widget/rating$")) as answer:
            await unhelpful.click()
        assert (await answer.value).status == 200  # cross-origin: the preflight passed too
        await expect(unhelpful).to_have_attribute("aria-pressed", "true")
        await expect(v.log.get_by_role("button", name="Talk to a person")).to_be_visible()
        stored = [(row.helpful, row.sources) for row in await rows(live_hub, message_ratings, tenant.id)]  # type: ignore[attr-defined]
        assert stored == [(False, ["Electric bikes"])]


async def test_a_polish_visitor_rates_in_polish(
    browser: Browser,
    shops: Shops,  # noqa: F811
    live_hub: RunningHub,  # noqa: F811
) -> None:
    tenant = await widget_tenant(live_hub, shops.allowed, language="pl")
    async with visit(browser, shops.allowed, live_hub, tenant, locale="pl-PL") as v:
        await v.launcher.click()
        await v.send("Cześć, ile kosztuje naprawa?")
        rating = v.log.get_by_role("group", name="Czy ta odpowiedź pomogła?")
        await expect(rating.get_by_role("button", name="Pomocna", exact=True)).to_be_visible()
        await rating.get_by_role("button", name="Niepomocna", exact=True).click()
        await expect(v.log).to_contain_text("Chcesz porozmawiać z człowiekiem?")
        await live_hub.node.control.close(tenant, (await v.stored())["sid"], Agent("agent-ann", "Ann"), force=True)
        stars = v.page.get_by_role("group", name="Jak oceniasz tę rozmowę?")
        await expect(stars.get_by_role("button", name="5 z 5 gwiazdek")).to_be_visible()
        await expect(v.page.get_by_label("Komentarz, jeśli chcesz (do 1000 znaków)")).to_be_visible()


async def stored_ratings(hub: RunningHub, tenant_id: str, table: object = message_ratings) -> list[object]:
    return await rows(hub, table, tenant_id)


async def until(check: Callable[[], bool | Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.1)


async def test_a_rating_given_while_the_hub_is_unreachable_is_sent_with_backoff_when_it_is_back(
    browser: Browser,
    shops: Shops,  # noqa: F811
    live_hub: RunningHub,  # noqa: F811
) -> None:
    tenant = await widget_tenant(live_hub, shops.allowed)
    async with live_hub.node.engine.begin() as connection:
        entry = {"title": "Electric bikes", "body": "Yes, we repair e-bikes.", "language": "en", "enabled": True}
        await knowledge_store.insert_entries(connection, tenant.id, [entry])
    live_hub.node.knowledge.changed(tenant.id)
    block = "window.WebSocket = function () { throw new DOMException('blocked by the proxy', 'SecurityError'); };"
    # The page reaches the hub through a proxy the test cuts: connections are refused, as from a stopped hub.
    async with proxy_to("127.0.0.1", live_hub.port) as proxy:
        via_proxy = dataclasses.replace(live_hub, port=proxy.port)
        async with visit(browser, shops.allowed, via_proxy, tenant, init_script=block) as v:
            posts: list[float] = []

            def on_request(request: Request) -> None:
                if request.method == "POST" and request.url.endswith("/api/widget/rating"):
                    posts.append(time.monotonic())

            v.page.on("request", on_request)
            await v.launcher.click()
            await v.send(QUESTION)
            await expect(v.bubbles("ai").last).to_contain_text("Yes, we repair e-bikes.")
            unhelpful = v.log.get_by_role("button", name="Not helpful", exact=True)
            helpful = v.log.get_by_role("button", name="Helpful", exact=True)
            # The reply's controls come with its stored message, at the end of the stream: the cut waits for them.
            await expect(unhelpful).to_be_visible()

            proxy.refuse()
            proxy.cut()
            await unhelpful.click()
            await expect(unhelpful).to_have_attribute("aria-pressed", "true")  # shown at once, sent when it can be
            await until(lambda: len(posts) >= 3)
            assert await stored_ratings(live_hub, tenant.id) == []
            first, second = posts[1] - posts[0], posts[2] - posts[1]
            assert 0.5 < first < second, f"tried again after {first:.1f} s, then {second:.1f} s: a backoff"
            waiting = (await v.stored())["hr"]
            assert [(item["u"], item["b"]["helpful"]) for item in waiting] == [("r", False)]

            proxy.heal()
            # The next try comes at the end of the backoff running now (1 s doubling, +20 % jitter), however
            # many tries a slow machine fitted in before the heal: wait that long, plus time to deliver.
            backoff = 1.2 * 2 ** (len(posts) - 1)
            await until(lambda: _has(live_hub, tenant.id, False), timeout=backoff + 15)
            await until(lambda: _queue_empty(v))
            assert not v.errors

            # A rating still waiting when the visitor leaves the page goes from the next page they open.
            proxy.refuse()
            proxy.cut()
            tried = len(posts)
            await helpful.click()
            await until(lambda: len(posts) > tried)
            await v.page.goto("about:blank")
            proxy.heal()
            await v.page.goto(f"{shops.allowed}/?hub={via_proxy.http}&tenant={tenant.id}")
            await until(lambda: _has(live_hub, tenant.id, True))  # the same row: replaced, never doubled
            await until(lambda: _queue_empty(v))


async def _has(hub: RunningHub, tenant_id: str, helpful: bool) -> bool:
    return [row.helpful for row in await stored_ratings(hub, tenant_id)] == [helpful]  # type: ignore[attr-defined]


async def _queue_empty(v: Visit) -> bool:
    return not (await v.stored()).get("hr")
