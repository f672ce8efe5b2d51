"""Mission Control in a real browser (Debian's Chromium) shows what the visitor was told and what they thought
of it: an AI reply's knowledge sources as links under it, the visitor's helpful / not helpful on it as it
is given (on another node), and the conversation's stars and comment. Screenshots at 1280 and 360 px go
to HUB_SHOTS_DIR when it is set."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from hub.chat.control import Agent
from hub.settings import Settings
from hub.store import knowledge as knowledge_store
from tests.agents import agent_account
from tests.browser import Chromium
from tests.conftest import two_hubs, visitor
from tests.test_dashboard_browser import log_in
from tests.test_reply_email_browser import SIZES, shoot

SHOP = "https://shop.example.com"
ANN = Agent("agent-ann", "Ann")


@pytest.mark.parametrize("size", list(SIZES))
async def test_mission_control_shows_a_replys_sources_and_the_visitors_ratings_as_they_come(
    shared_settings: Settings, chromium: Chromium, size: str
) -> None:
    async with two_hubs(shared_settings) as (node_a, node_b):
        tenant = await node_a.tenant()
        entries: list[dict[str, Any]] = [
            {"title": "Electric bikes", "body": "Yes, we repair e-bikes of every brand.", "url": f"{SHOP}/ebikes"},
            {"title": "Opening hours", "body": "We are open Monday to Friday, 9:00 to 18:00.", "url": None},
        ]
        async with node_a.node.engine.begin() as connection:
            rows = [{**entry, "language": "en", "enabled": True} for entry in entries]
            await knowledge_store.insert_entries(connection, tenant.id, rows)
        email = await agent_account(node_a.node.engine, tenant.id, "Anna")
        async with chromium() as browser, visitor(node_b.ws, tenant.id) as client:
            await client.say("Hi! Do you repair e-bikes?")
            reply = (await client.ai_reply())[-1]
            assert reply["sources"] == [{"title": "Electric bikes", "url": f"{SHOP}/ebikes"}]
            session_id = client.ready["session_id"]

            page = await browser.new_page(viewport=SIZES[size])
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await log_in(page, node_a, email)  # Mission Control on node A, the visitor on node B
            await page.locator(f'li.session[data-session-id="{session_id}"]').click()
            answer = page.locator(".msg.ai").last
            await expect(answer.locator(".body")).to_contain_text("Yes, we repair e-bikes")
            sources = answer.locator(".sources")
            await expect(sources).to_contain_text("Sources:")
            link = sources.get_by_role("link", name="Electric bikes")
            await expect(link).to_have_attribute("href", f"{SHOP}/ebikes")
            await expect(link).to_have_attribute("target", "_blank")
            await expect(link).to_have_attribute("rel", "noopener noreferrer")
            await expect(answer.locator(".rating")).to_have_count(0)  # not rated yet

            # The visitor rates while Anna watches, on the other node: the reply shows it, no reload.
            await client.send({"type": "rate", "message_id": reply["id"], "helpful": False})
            await expect(answer.locator(".rating")).to_have_text("The visitor found this not helpful")
            await shoot(page, f"mission-control-not-helpful-{size}")
            await client.send({"type": "rate", "message_id": reply["id"], "helpful": True})
            await expect(answer.locator(".rating")).to_have_text("The visitor found this helpful")
            await expect(page.locator("#session-rating")).to_be_hidden()

            # The conversation closes and the visitor gives it stars and a comment.
            await node_b.node.control.close(tenant, session_id, ANN, force=True)
            await client.until(lambda f: f["type"] == "message" and f.get("event") == "close")
            comment = "Quick and clear, thank you! <b>not bold</b>"
            await client.send({"type": "rate_session", "stars": 4, "comment": comment})
            said = page.locator("#session-rating")
            await expect(said).to_be_visible()
            await expect(said).to_contain_text("The visitor rated this conversation 4 of 5")
            await expect(said.locator(".stars")).to_have_text("★★★★☆")
            await expect(said.locator(".comment")).to_have_text(comment)  # the visitor's words, as text
            await expect(said.locator("b")).to_have_count(0)
            await shoot(page, f"mission-control-sources-ratings-{size}")

            # Opened again later, from the list: the ratings as they stand.
            await page.reload()
            await expect(page.locator("#connection")).to_have_text("Connected")
            await page.locator("#filter-status").select_option("closed")
            await page.locator(f'li.session[data-session-id="{session_id}"]').click()
            answer = page.locator(".msg.ai").last
            await expect(answer.locator(".rating")).to_have_text("The visitor found this helpful")
            await expect(answer.locator(".sources").get_by_role("link", name="Electric bikes")).to_be_visible()
            await expect(page.locator("#session-rating")).to_contain_text("4 of 5")
            # Another conversation shows none of it; its reply's source has no link: its title is text.
            async with visitor(node_a.ws, tenant.id) as other:
                await other.say("What are your opening hours?")
                assert (await other.ai_reply())[-1]["sources"] == [{"title": "Opening hours"}]
                if size == "phone":  # the conversation covers the list: back to it first
                    await page.get_by_role("button", name="← Conversations").click()
                await page.locator("#filter-status").select_option("open")
                await page.locator(f'li.session[data-session-id="{other.ready["session_id"]}"]').click()
                sources = page.locator(".msg.ai").last.locator(".sources")
                await expect(sources).to_have_text("Sources: Opening hours")
                await expect(sources.get_by_role("link")).to_have_count(0)
                await expect(page.locator("#session-rating")).to_be_hidden()
                await expect(page.locator(".msg .rating")).to_have_count(0)
            assert errors == []
