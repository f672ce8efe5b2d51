"""Mission Control in a real browser (Debian's Chromium): an agent logs in, watches a reply stream,
takes over, replies, hands back; the dashboard survives a hub restart."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from hub.settings import Settings
from tests.agents import PASSWORD, agent_account
from tests.browser import Chromium
from tests.conftest import RunningHub, serve_hub, two_hubs, visitor
from tests.services import free_port

LONG_QUESTION = "Tell me everything about your opening hours and prices please"


@pytest.fixture
def slow_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, ai_token_delay_ms=80)


async def log_in(page: Page, hub: RunningHub, email: str) -> None:
    await page.goto(f"{hub.http}/mission-control")
    await expect(page).to_have_url(re.compile("/mission-control/login$"))
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile("/mission-control$"))
    await expect(page.locator("#connection")).to_have_text("Connected")


def is_system(frame: dict[str, object], text: str) -> bool:
    return frame["type"] == "message" and frame["role"] == "system" and frame["text"] == text


@pytest.fixture
async def slow_hub(slow_settings: Settings) -> AsyncIterator[RunningHub]:
    async with serve_hub(slow_settings) as running:
        yield running


async def test_agent_watches_a_reply_stream_takes_over_replies_and_hands_back(
    slow_hub: RunningHub, chromium: Chromium
) -> None:
    hub = slow_hub
    tenant = await hub.tenant()
    email = await agent_account(hub.node.engine, tenant.id, "Anna")
    async with chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await log_in(page, hub, email)
        await expect(page.locator("#no-sessions")).to_be_visible()

        async with visitor(hub.ws, tenant.id) as client:
            await client.say(LONG_QUESTION)
            session_id = client.ready["session_id"]
            item = page.locator(f'li.session[data-session-id="{session_id}"]')
            await expect(item).to_be_visible()  # appeared live, no reload
            await expect(item.locator(".dot.online")).to_have_count(1)
            await item.click()
            await expect(page.locator(".msg.visitor .body")).to_have_text(LONG_QUESTION)
            await expect(page.locator(".msg.ai.streaming")).to_have_count(1)  # tokens arriving as generated

            await page.get_by_role("button", name="Take over").click()
            await client.until(lambda f: is_system(f, "Anna joined the chat"))
            await expect(page.locator(".msg.system", has_text="Anna joined the chat")).to_have_count(1)
            await expect(page.locator(".msg.ai .cut")).to_have_text("cut short by a takeover")
            await expect(page.locator("#owner")).to_have_text("Owner: Anna (you)")
            await expect(page.locator("#mode")).to_have_text("human")

            await client.send({"type": "typing", "active": True})
            await expect(page.locator("#typing")).to_have_text("Visitor is typing…")
            await page.get_by_label("Reply", exact=True).fill("Hi, I'm Anna. How can I help?")
            await page.get_by_label("Reply", exact=True).press("Enter")
            frames = await client.until(lambda f: f["type"] == "message" and f["role"] == "agent")
            assert frames[-1]["text"] == "Hi, I'm Anna. How can I help?" and frames[-1]["author"] == "Anna"
            await expect(page.locator(".msg.agent .body")).to_have_text("Hi, I'm Anna. How can I help?")

            await page.get_by_role("button", name="Hand back").click()
            await client.until(lambda f: is_system(f, "Anna handed the chat back to Bob"))
            await expect(page.locator("#mode")).to_have_text("AI")

            await page.get_by_label("Mode").select_option("human")
            await expect(item).to_have_count(0)
            await page.get_by_label("Mode").select_option("ai")
            await expect(item).to_have_count(1)
    assert errors == []


async def test_a_second_agent_sees_who_owns_the_session_and_can_force(slow_hub: RunningHub, chromium: Chromium) -> None:
    hub = slow_hub
    tenant = await hub.tenant()
    anna = await agent_account(hub.node.engine, tenant.id, "Anna")
    ben = await agent_account(hub.node.engine, tenant.id, "Ben")
    async with visitor(hub.ws, tenant.id) as client, chromium() as browser:
        await client.say("hello")
        session_id = client.ready["session_id"]
        pages = []
        for email in (anna, ben):
            page = await (await browser.new_context()).new_page()
            await log_in(page, hub, email)
            await page.locator(f'li.session[data-session-id="{session_id}"]').click()
            pages.append(page)
        anna_page, ben_page = pages
        await anna_page.get_by_role("button", name="Take over").click()
        await expect(ben_page.locator("#owner")).to_have_text("Owner: Anna")
        await ben_page.get_by_role("button", name="Take over").click()
        await expect(ben_page.get_by_role("alert")).to_contain_text("Anna owns this session")
        await ben_page.get_by_role("button", name="Take over anyway").click()
        await expect(ben_page.locator("#owner")).to_have_text("Owner: Ben (you)")
        await expect(anna_page.locator("#owner")).to_have_text("Owner: Ben")
        await client.until(lambda f: is_system(f, "Ben joined the chat"))


async def test_dashboard_reconnects_after_a_hub_restart_and_misses_nothing(
    slow_settings: Settings, chromium: Chromium
) -> None:
    port = free_port()
    async with chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        async with serve_hub(slow_settings, port=port) as hub:
            tenant = await hub.tenant()
            email = await agent_account(hub.node.engine, tenant.id, "Anna")
            await log_in(page, hub, email)
            async with visitor(hub.ws, tenant.id) as client:
                await client.say("first question")
                await client.ai_reply(timeout=15)
                ready = client.ready
            await page.locator(f'li.session[data-session-id="{ready["session_id"]}"]').click()
            await expect(page.locator(".msg")).to_have_count(2)
        await expect(page.locator("#connection")).to_have_text("Reconnecting…")
        async with serve_hub(slow_settings, port=port) as hub:
            await expect(page.locator("#connection")).to_have_text("Connected", timeout=15_000)
            query = f"session_id={ready['session_id']}&resume_token={ready['resume_token']}&last_seq=2"
            async with visitor(hub.ws, tenant.id, query=query) as client:
                await client.say("second question")
                await client.ai_reply(timeout=15)
            await expect(page.locator(".msg")).to_have_count(4)
            texts = await page.locator(".msg .body").all_text_contents()
            assert texts.count("first question") == 1 and texts.count("second question") == 1
    assert errors == []


async def test_a_closed_conversation_offers_nothing_to_do_on_every_node_until_the_visitor_writes_again(
    shared_settings: Settings, chromium: Chromium
) -> None:
    async with (
        two_hubs(shared_settings.with_overrides(ai_token_delay_ms=20)) as (node_a, node_b),
        chromium() as browser,
    ):
        tenant = await node_a.tenant()
        anna = await agent_account(node_a.node.engine, tenant.id, "Anna")
        ben = await agent_account(node_a.node.engine, tenant.id, "Ben")
        async with visitor(node_a.ws, tenant.id) as client:
            await client.say("hello")
            await client.ai_reply(timeout=15)
            session_id = client.ready["session_id"]
            pages = []
            errors: list[str] = []
            for hub, email in ((node_b, anna), (node_a, ben)):  # Anna watches on node B, Ben closes on node A
                page = await (await browser.new_context()).new_page()
                page.on("pageerror", lambda error: errors.append(str(error)))
                await log_in(page, hub, email)
                await page.locator(f'li.session[data-session-id="{session_id}"]').click()
                pages.append(page)
            anna_page, ben_page = pages
            await expect(anna_page.locator("#owner")).to_have_text("Bob is answering")
            await client.send({"type": "typing", "active": True})
            await expect(anna_page.locator("#typing")).to_have_text("Visitor is typing…")

            await ben_page.get_by_role("button", name="Close", exact=True).click()
            await client.until(lambda f: is_system(f, "Ben closed the conversation"))
            for page in (anna_page, ben_page):
                await expect(page.locator("#mode")).to_have_text("closed")
                await expect(page.locator("#owner")).to_have_text("Closed: nobody is answering")
                await expect(page.locator("#typing")).to_have_text("")
                await expect(page.get_by_role("button", name="Take over")).to_be_disabled()
                await expect(page.get_by_role("button", name="Close", exact=True)).to_be_disabled()
                await expect(page.get_by_role("button", name="Hand back")).to_be_disabled()
                await expect(page.get_by_label("Reply", exact=True)).to_be_disabled()
                await expect(page.get_by_role("button", name="Send")).to_be_disabled()
                note = page.locator("#closed-note")
                await expect(note).to_be_visible()
                await expect(note).to_contain_text("If the visitor writes again, it reopens here")
                await expect(page.get_by_role("button", name="Take over")).to_have_attribute(
                    "aria-describedby", "closed-note"
                )
            await client.send({"type": "typing", "active": True})  # typing alone does not reopen it
            await anna_page.wait_for_timeout(300)
            await expect(anna_page.locator("#typing")).to_have_text("")

            await client.say("one more question")  # writing again reopens it, with Bob answering
            for page in (anna_page, ben_page):
                await expect(page.locator("#mode")).to_have_text("AI")
                await expect(page.locator("#closed-note")).to_be_hidden()
                await expect(page.get_by_role("button", name="Take over")).to_be_enabled()
                await expect(page.get_by_role("button", name="Close", exact=True)).to_be_enabled()
                await expect(page.get_by_label("Reply", exact=True)).to_be_enabled()
            await expect(anna_page.locator(".msg.visitor .body").last).to_have_text("one more question")
            await client.ai_reply(timeout=15)
        assert errors == []
