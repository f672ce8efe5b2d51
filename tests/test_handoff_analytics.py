"""Analytics of requests for a person: by reason, taken or missed or still waiting, the wait for a person
(median and p90) and how many came outside office hours; in the API and the portal's Analytics page, on
SQLite and PostgreSQL, each tenant seeing its own only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import expect

from hub.mail import MemoryMailer
from hub.settings import Settings
from hub.store.tables import handoffs
from tests.accounts import create_user
from tests.agents import agent_account, agent_socket, login
from tests.browser import Chromium
from tests.conftest import RunningHub, serve_hub, visitor
from tests.test_office_hours import MONDAY_EVENING, WEEKDAYS_9_TO_17, set_hours
from tests.test_reply_email_browser import SIZES, shoot


async def taken_handoffs(hub: RunningHub, tenant_id: str, waits_s: list[int]) -> None:
    """Requests a person took after ``waits_s`` seconds (kept as the hub keeps them), a day ago."""
    start = datetime.now(UTC) - timedelta(days=1)
    rows = [
        {
            "id": str(uuid.uuid4()),
            "tenant_id": tenant_id,
            "session_id": f"s_old_{number:04d}",
            "reason": "visitor",
            "requested_at": start,
            "ended_at": start + timedelta(seconds=wait),
            "outcome": "taken",
            "taken_by": "someone",
            "outside_hours": False,
        }
        for number, wait in enumerate(waits_s)
    ]
    async with hub.node.engine.begin() as connection:
        await connection.execute(handoffs.insert(), rows)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_requests_for_a_person_are_counted_by_reason_and_outcome_with_the_wait_and_office_hours(
    settings: Settings, postgres_url: str, database: str
) -> None:
    if database == "postgresql":
        settings = settings.with_overrides(database_url=postgres_url)
    async with serve_hub(settings, mailer=MemoryMailer(), clock=lambda: MONDAY_EVENING) as hub:
        tenant, other = await hub.tenant(), await hub.tenant()
        await set_hours(hub, tenant.id, WEEKDAYS_9_TO_17)
        await taken_handoffs(hub, tenant.id, [10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
        await taken_handoffs(hub, other.id, [5000])  # another tenant's: never in tenant A's numbers
        owner = (await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Olga", "owner")))["token"]
        async with agent_socket(hub.ws, token=owner) as agent:
            async with visitor(hub.ws, tenant.id) as waits:  # asks, and is still waiting
                await waits.send({"type": "handoff"})
                await waits.until(lambda f: f.get("event") == "handoff_requested")
            async with visitor(hub.ws, tenant.id) as leaves:  # the AI hears the request; the visitor leaves
                await leaves.say("human please")
                await leaves.until(lambda f: f.get("event") == "handoff_requested", timeout=10)
                left = leaves.ready["session_id"]
            assert (await agent.command({"type": "close", "session_id": left}))["type"] == "ok"
            async with visitor(hub.ws, tenant.id) as helped:  # asks, and a person comes
                await helped.send({"type": "handoff", "reason": "refund"})
                await helped.until(lambda f: f.get("event") == "handoff_requested")
                command = {"type": "takeover", "session_id": helped.ready["session_id"]}
                assert (await agent.command(command))["type"] == "ok"
        async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {owner}"}) as client:
            metrics = (await client.get("/api/metrics/business", params={"days": 7})).json()
            page = await client.get("/portal/analytics")
    numbers = metrics["handoffs"]
    assert numbers["requested"] == 13
    assert numbers["by_reason"] == {"visitor": 12, "ai": 1, "credits": 0, "agent_left": 0}
    assert (numbers["taken"], numbers["missed"], numbers["waiting"]) == (11, 1, 1)
    assert numbers["outside_hours"] == 3, "the three asked on a Monday evening, Warsaw time"
    # Waits of the taken: 10..100 s and one of about 0 s (nearest rank over 11 values).
    assert numbers["median_wait_s"] == 50.0 and numbers["p90_wait_s"] == 90.0
    assert page.status_code == 200 and 'id="handoff-reasons"' in page.text
    assert '<strong id="handoffs-missed">1</strong>' in page.text
    assert '<strong id="handoffs-outside">3</strong>' in page.text
    assert '<strong id="handoffs-p90">90.0 s</strong>' in page.text


@pytest.mark.parametrize(("size", "language"), [("desktop", "en"), ("phone", "pl")])
async def test_the_analytics_page_shows_requests_for_a_person(
    hub: RunningHub, chromium: Chromium, size: str, language: str
) -> None:
    tenant = await hub.tenant()
    await taken_handoffs(hub, tenant.id, [30, 45, 60, 240, 300])
    await create_user(
        hub.node.engine, tenant_id=tenant.id, email="owner@stats.example.com", password="portal-pass", role="owner"
    )
    async with chromium() as browser:
        context = await browser.new_context(viewport=SIZES[size])
        page = await context.new_page()
        await page.goto(f"{hub.http}/portal/login?lang={language}")
        await page.locator("#email").fill("owner@stats.example.com")
        await page.locator("#password").fill("portal-pass")
        await page.locator("#login-form button[type=submit]").click()
        await expect(page.locator("#embed-tag")).to_be_visible()
        await page.goto(f"{hub.http}/portal/analytics")
        card = page.locator("#handoffs")
        await expect(card.locator("#handoffs-taken")).to_have_text("5")
        await expect(card.locator("#handoffs-median")).to_have_text("60.0 s")
        await expect(card.locator("#handoffs-p90")).to_have_text("300.0 s")
        await card.scroll_into_view_if_needed()
        await shoot(page, f"portal-analytics-handoffs-{language}-{size}")
        await context.close()
