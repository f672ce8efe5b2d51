"""The Analytics page's conversations-per-day chart in a real browser: axes with values and dates, each
day's date and value on hover and on keyboard focus (and as its accessible name), the numbers as a table,
in English and Polish, at desk and phone width, with no script and nothing the page's CSP refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from babel.dates import format_date
from playwright.async_api import expect

from tests.accounts import create_user
from tests.browser import Chromium
from tests.conftest import RunningHub, visitor
from tests.test_reply_email_browser import SIZES, shoot

WORDS = {
    "en": ("Show the numbers as a table", "{date}: 2 conversations"),
    "pl": ("Pokaż liczby w tabeli", "{date}: 2 rozmowy"),
}


@pytest.mark.parametrize(("size", "language"), [("desktop", "en"), ("phone", "pl")])
async def test_the_owner_reads_each_days_date_and_count_on_the_chart_by_mouse_keyboard_and_table(
    hub: RunningHub, chromium: Chromium, size: str, language: str
) -> None:
    tenant = await hub.tenant()
    for text in ("hello", "hi again"):
        async with visitor(hub.ws, tenant.id) as client:
            await client.say(text)
            await client.until(lambda f: f["type"] == "message" and f["role"] == "visitor")
    await create_user(
        hub.node.engine, tenant_id=tenant.id, email="owner@chart.example.com", password="portal-pass", role="owner"
    )
    today = datetime.now(UTC).date()
    short, long = format_date(today, "d MMM", locale=language), format_date(today, "EEEE, d MMMM y", locale=language)
    table_label, said = WORDS[language]
    async with chromium() as browser:
        context = await browser.new_context(viewport=SIZES[size])
        page = await context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        await page.goto(f"{hub.http}/portal/login?lang={language}")
        await page.locator("#email").fill("owner@chart.example.com")
        await page.locator("#password").fill("portal-pass")
        await page.locator("#login-form button[type=submit]").click()
        await expect(page.locator("#embed-tag")).to_be_visible()
        await page.goto(f"{hub.http}/portal/analytics")

        chart = page.locator("#per-day-chart")
        points = chart.locator(".point")
        await expect(points).to_have_count(30)
        assert await page.locator(".y-axis text").all_text_contents() == ["0", "1", "2"]  # the value axis
        ticks = await chart.locator(".tick text").all_text_contents()
        assert ticks[-1] == short and len(ticks) >= 5  # the date axis ends today
        if size == "phone":  # every other date is left out where there is no room
            assert await chart.locator(".tick:not(.minor) text").count() < len(ticks)

        today_point = points.last
        await expect(today_point).to_have_attribute("aria-label", said.format(date=long))
        await expect(today_point.locator("title")).to_have_text(said.format(date=long))
        value = today_point.locator(".value")
        await expect(value).to_be_hidden()
        await today_point.locator(".hit").hover()  # the mouse over the day shows its date and value
        await expect(value).to_be_visible()
        await expect(value).to_have_text(f"{short}: 2")
        await shoot(page, f"analytics-chart-hover-{language}-{size}")
        await page.mouse.move(0, 0)
        await expect(value).to_be_hidden()
        await points.nth(28).focus()  # so does the keyboard: Tab reaches each day
        await page.keyboard.press("Tab")
        await expect(today_point).to_be_focused()
        await expect(value).to_be_visible()

        await page.get_by_text(table_label).click()
        rows = page.locator("#per-day-table tbody tr")
        await expect(rows).to_have_count(30)
        await expect(rows.last.locator("th")).to_have_text(long)
        await expect(rows.last.locator("td")).to_have_text("2")
        assert await page.locator("script:not([src]):not([type='application/json'])").count() == 0
        await shoot(page, f"analytics-chart-table-{language}-{size}", full_page=True)
        await context.close()
    assert problems == []
