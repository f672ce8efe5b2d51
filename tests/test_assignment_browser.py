"""Mission Control for a team, in real browsers (Debian's Chromium): assigning and transferring from the
conversation's header, the Mine / Unassigned / per-agent views and the filter bar, labels and the label
filter, a list that updates in place (the focus survives a patch for another conversation), the keyboard end
to end, 360 px phones, and the portal's Labels page and round-robin setting. Screenshots at 1280 and 360 px
go to HUB_SHOTS_DIR when it is set."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.agents import PASSWORD, agent_account, agent_socket, login
from tests.browser import Chromium
from tests.conftest import RunningHub, Visitor, visitor
from tests.test_dashboard_browser import is_system, log_in

PHONE: dict[str, Any] = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
RELOAD_MS = 20_000  # a portal page saves, then reloads


async def shoot(page: Page, name: str) -> None:
    folder = os.environ.get("HUB_SHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(folder) / f"{name}.png"))


async def desk(browser: Browser, hub: RunningHub, email: str, **options: Any) -> tuple[Page, list[str]]:
    page = await (await browser.new_context(**(options or DESKTOP))).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await log_in(page, hub, email)
    return page, errors


def row(page: Page, session_id: str) -> Any:
    return page.locator(f'li.session[data-session-id="{session_id}"]')


async def staff(hub: RunningHub, tenant_id: str, name: str, role: str = "agent") -> tuple[str, str, str]:
    """A staff member: email, id, token."""
    email = await agent_account(hub.node.engine, tenant_id, name, role)
    answer = await login(hub.http, email)
    return email, answer["user"]["id"], str(answer["token"])


@pytest.fixture
async def visitors(hub: RunningHub) -> AsyncIterator[Any]:
    """``await visitors(tenant_id, *texts)``: one visitor per text, who wrote it; closed after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(tenant_id: str, *texts: str) -> list[Visitor]:
            opened = []
            for text in texts:
                client = await stack.enter_async_context(visitor(hub.ws, tenant_id))
                await client.say(text)
                await client.until(lambda f: f["type"] == "message" and f["role"] == "visitor")
                opened.append(client)
            return opened

        yield start


async def test_an_agent_assigns_from_the_header_and_mine_unassigned_and_per_agent_views_follow_live(
    hub: RunningHub, chromium: Chromium, visitors: Any
) -> None:
    tenant = await hub.tenant()
    anna, anna_id, _ = await staff(hub, tenant.id, "Anna")
    _, ben_id, ben_token = await staff(hub, tenant.id, "Ben")
    clients = await visitors(tenant.id, "Where is my parcel?", "Do you ship to Norway?")
    first, second = (client.ready["session_id"] for client in clients)
    async with chromium() as browser:
        page, errors = await desk(browser, hub, anna)
        await expect(page.locator(".views").get_by_role("button", name="Unassigned")).to_have_text(
            re.compile(r"Unassigned\s*2")
        )
        await row(page, first).click()
        await expect(page.locator("#assignee")).to_have_text("Not assigned")
        await page.get_by_role("button", name="Assign or transfer").click()
        await expect(page.get_by_label("Assign to")).to_be_focused()
        await expect(page.locator(f'#assign-to option[value="{anna_id}"]')).to_have_text("Anna (you) · online · 0 open")
        await expect(page.locator(f'#assign-to option[value="{ben_id}"]')).to_have_text("Ben · offline · 0 open")
        await page.get_by_label("Assign to").select_option(anna_id)
        await expect(page.locator("#assign-save")).to_have_text("Assign")
        await page.locator("#assign-save").click()
        await expect(page.locator("#assignee")).to_have_text("Assigned to Anna (you)")
        await expect(page.get_by_role("button", name="Assign or transfer")).to_be_focused()
        await expect(page.locator("#list-status")).to_have_text("Assigned to Anna")
        await expect(row(page, first).locator(".assignee")).to_have_text("You")

        await page.locator(".views").get_by_role("button", name="Mine").click()
        await expect(page.locator("#sessions li.session")).to_have_count(1)
        await expect(row(page, first)).to_be_visible()
        await expect(page.locator("#list-status")).to_have_text("Conversations shown: 1")
        await page.locator(".views").get_by_role("button", name="Unassigned").click()
        await expect(page.locator("#sessions li.session")).to_have_count(1)
        await expect(row(page, second)).to_be_visible()

        # Ben assigns the second one to himself elsewhere: it leaves Unassigned here at once.
        async with agent_socket(hub.ws, token=ben_token) as ben:
            answer = await ben.command({"type": "assign", "session_id": second, "agent_id": ben_id})
            assert answer["type"] == "ok", answer
        await expect(page.locator("#sessions li.session")).to_have_count(0)
        await expect(page.locator("#no-sessions")).to_be_visible()
        await page.get_by_label("Agent").select_option(label="Ben")
        await expect(page.locator(".views").get_by_role("button", name="All")).to_have_attribute(
            "aria-pressed", "false"
        )
        await expect(row(page, second)).to_be_visible()
        await expect(row(page, second).locator(".assignee")).to_have_text("Ben")
        await expect(page.locator("#sessions li.session")).to_have_count(1)
        await page.locator(".views").get_by_role("button", name="All").click()
        await expect(page.get_by_label("Agent")).to_have_value("")
        await expect(page.locator("#sessions li.session")).to_have_count(2)
    assert errors == []


async def test_a_transfer_with_a_note_reaches_the_colleague_and_never_the_visitor(
    hub: RunningHub, chromium: Chromium, visitors: Any
) -> None:
    tenant = await hub.tenant()
    anna, _, _ = await staff(hub, tenant.id, "Anna")
    ben, ben_id, _ = await staff(hub, tenant.id, "Ben")
    note = "Refund for order 4411 approved by Olga; please send the label"
    [client] = await visitors(tenant.id, "I want to return my bike")
    session_id = client.ready["session_id"]
    async with chromium() as browser:
        anna_page, anna_errors = await desk(browser, hub, anna)
        ben_page, ben_errors = await desk(browser, hub, ben)
        await row(anna_page, session_id).click()
        await anna_page.get_by_role("button", name="Take over").click()
        await client.until(lambda f: is_system(f, "Anna joined the chat"))
        await expect(anna_page.locator("#assignee")).to_have_text("Assigned to Anna (you)")
        await expect(row(ben_page, session_id).locator(".assignee")).to_have_text("Anna")

        await anna_page.get_by_role("button", name="Assign or transfer").click()
        await anna_page.get_by_label("Assign to").select_option(ben_id)
        await anna_page.get_by_label("Note for the new assignee").fill(note)
        await expect(anna_page.locator("#assign-save")).to_have_text("Transfer")
        await anna_page.locator("#assign-save").click()
        await expect(anna_page.locator("#assignee")).to_have_text("Assigned to Ben")
        await expect(anna_page.locator("#owner")).to_have_text("Owner: nobody")
        await expect(anna_page.locator("#transfer-note")).to_contain_text(note)

        await expect(row(ben_page, session_id).locator(".assignee")).to_have_text("You")
        await expect(ben_page.locator("#list-status")).to_have_text(f"Visitor {session_id[-6:]} is assigned to you")
        await ben_page.locator(".views").get_by_role("button", name="Mine").click()
        await row(ben_page, session_id).click()
        await expect(ben_page.locator("#transfer-note")).to_contain_text("Transferred by Anna")
        await expect(ben_page.locator("#transfer-note")).to_contain_text(note)
        await ben_page.get_by_role("button", name="Take over").click()
        frames = await client.until(lambda f: is_system(f, "Ben joined the chat"))
        await expect(ben_page.locator("#owner")).to_have_text("Owner: Ben (you)")
        await expect(ben_page.get_by_role("alert")).to_be_hidden()  # no force was needed
        assert note not in json.dumps(frames) and "4411" not in json.dumps(frames)
    assert anna_errors == [] and ben_errors == []


async def test_an_agent_puts_a_label_on_a_conversation_and_filters_the_list_by_it(
    hub: RunningHub, chromium: Chromium, visitors: Any
) -> None:
    tenant = await hub.tenant()
    anna, _, _ = await staff(hub, tenant.id, "Anna")
    _, _, owner_token = await staff(hub, tenant.id, "Olga", "owner")
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {owner_token}"}) as owner:
        refund = (await owner.post("/api/labels", json={"name": "Refund", "color": "red"})).json()
        await owner.post("/api/labels", json={"name": "VIP", "color": "yellow"})
        clients = await visitors(tenant.id, "My order never came", "Hi there")
        first, second = (client.ready["session_id"] for client in clients)
        async with chromium() as browser:
            page, errors = await desk(browser, hub, anna)
            await row(page, first).click()
            await page.get_by_role("button", name="Labels", exact=True).click()
            refund_box = page.get_by_role("checkbox", name="Refund")
            await expect(refund_box).to_be_focused()
            await page.keyboard.press("Space")
            await expect(page.locator("#head-labels .chip")).to_have_text(["Refund"])
            await expect(row(page, first).locator(".chip.red")).to_have_text("Refund")
            await expect(row(page, first).locator("button")).to_have_attribute(
                "aria-label", re.compile("Labels: Refund")
            )
            await page.keyboard.press("Escape")  # closes the panel, not the conversation
            await expect(page.locator("#labels-panel")).to_be_hidden()
            await expect(page.get_by_role("button", name="Labels", exact=True)).to_be_focused()
            await expect(page.locator("#conversation")).to_be_visible()

            await page.get_by_label("Label", exact=True).select_option(label="Refund")
            await expect(page.locator("#sessions li.session")).to_have_count(1)
            await expect(row(page, first)).to_be_visible()
            await expect(row(page, second)).to_have_count(0)

            # The owner renames the label in the portal (here: its API): the chips follow, the filter holds.
            await owner.patch(f"/api/labels/{refund['id']}", json={"name": "Refunds"})
            await expect(row(page, first).locator(".chip")).to_have_text("Refunds")
            await expect(page.get_by_label("Label", exact=True)).to_have_value(refund["id"])

            await page.get_by_role("button", name="Labels", exact=True).click()
            await page.get_by_role("checkbox", name="Refunds").uncheck()
            await expect(page.locator("#sessions li.session")).to_have_count(0)
            await page.get_by_label("Label", exact=True).select_option("")
            await expect(page.locator("#sessions li.session")).to_have_count(2)
        assert errors == []


async def test_the_focus_stays_on_a_row_while_patches_for_other_conversations_reorder_the_list(
    hub: RunningHub, chromium: Chromium, visitors: Any
) -> None:
    tenant = await hub.tenant()
    anna, _, _ = await staff(hub, tenant.id, "Anna")
    clients = await visitors(tenant.id, "first", "second", "third")
    ids = [client.ready["session_id"] for client in clients]
    async with chromium() as browser:
        page, errors = await desk(browser, hub, anna)
        await expect(page.locator("#sessions li.session")).to_have_count(3)
        order = await page.locator("#sessions li.session").evaluate_all("rows => rows.map(r => r.dataset.sessionId)")
        assert order == ids[::-1], "newest activity first"
        await page.evaluate("document.querySelectorAll('#sessions li.session').forEach(r => r.kept = 1)")

        # From the filter bar to the list with the keyboard: Tab reaches the rows' buttons (the label filter is
        # disabled while the tenant has no labels).
        await expect(page.get_by_label("Label", exact=True)).to_be_disabled()
        await page.get_by_label("Mode").focus()
        await page.keyboard.press("Tab")
        await expect(row(page, ids[2]).locator("button")).to_be_focused()
        await page.keyboard.press("Tab")
        focused = row(page, ids[1]).locator("button")
        await expect(focused).to_be_focused()

        await clients[0].say("news in the oldest conversation")  # its row moves to the top
        await expect(page.locator("#sessions li.session").first).to_have_attribute("data-session-id", ids[0])
        await expect(row(page, ids[0]).locator(".unread")).to_have_text(re.compile(r"^[12]$"))  # and Bob's reply
        await clients[2].say("and in the newest one")
        await expect(page.locator("#sessions li.session").first).to_have_attribute("data-session-id", ids[2])
        await expect(focused).to_be_focused()
        kept = await page.locator("#sessions li.session").evaluate_all("rows => rows.map(r => r.kept === 1)")
        assert kept == [True, True, True], "rows are updated and moved, never redrawn"
        assert await page.locator("#sessions").get_attribute("aria-live") is None
        await expect(page.locator("#list-status")).to_have_attribute("role", "status")

        await page.keyboard.press("Enter")  # opens the focused conversation
        await expect(page.locator("#conversation-title")).to_have_text(f"Visitor {ids[1][-6:]}")
        await expect(focused).to_have_attribute("aria-current", "true")
    assert errors == []


async def test_on_a_360_px_phone_the_filter_bar_list_and_header_controls_fit_and_work(
    hub: RunningHub, chromium: Chromium, visitors: Any
) -> None:
    tenant = await hub.tenant()
    anna, _, _ = await staff(hub, tenant.id, "Anna")
    _, ben_id, _ = await staff(hub, tenant.id, "Ben")
    [client] = await visitors(tenant.id, "hello from a phone")
    session_id = client.ready["session_id"]
    async with chromium() as browser:
        page, errors = await desk(browser, hub, anna, **PHONE)
        for name in ("All", "Mine", "Unassigned"):
            await expect(page.locator(".views").get_by_role("button", name=name)).to_be_in_viewport()
        for name in ("Agent", "Status", "Mode"):
            await expect(page.get_by_label(name, exact=True)).to_be_in_viewport()
        await expect(row(page, session_id)).to_be_in_viewport()
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        await row(page, session_id).tap()
        await page.get_by_role("button", name="Assign or transfer").tap()
        await page.get_by_label("Assign to").select_option(ben_id)
        await page.get_by_label("Note for the new assignee").fill("Ben knows the phone model")
        await expect(page.locator("#assign-save")).to_be_in_viewport()
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        await page.locator("#assign-save").tap()
        await expect(page.locator("#assignee")).to_have_text("Assigned to Ben")
        await expect(page.locator("#transfer-note")).to_be_visible()
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        await page.get_by_role("button", name="← Conversations").tap()
        await expect(row(page, session_id).locator(".assignee")).to_have_text("Ben")
    assert errors == []


async def test_an_owner_manages_labels_and_turns_round_robin_on_in_the_portal(
    hub: RunningHub, chromium: Chromium
) -> None:
    tenant = await hub.tenant()
    owner, _, owner_token = await staff(hub, tenant.id, "Olga", "owner")
    async with chromium() as browser:
        page = await (await browser.new_context(**DESKTOP)).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{hub.http}/portal/login")
        await page.get_by_label("Email").fill(owner)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.get_by_role("link", name="Labels").click()
        await expect(page.locator("#no-labels")).to_be_visible()
        for name, color in (("Refund", "red"), ("VIP", "yellow"), ("Bug", "purple")):
            await page.locator("#label-name").fill(name)
            await page.locator("#label-color").select_option(color)
            await page.get_by_role("button", name="Add label").click()
            # The page reloads once the label is saved: slow on a busy machine.
            await expect(page.locator(f".label-edit .chip.{color}")).to_have_text(name, timeout=RELOAD_MS)
        await page.locator("#label-name").fill("refund")
        await page.get_by_role("button", name="Add label").click()
        await expect(page.locator("#label-error")).to_contain_text("already exists")
        bug = page.locator(".label-edit", has=page.locator('input[value="Bug"]'))
        await bug.get_by_label("Name").fill("Bug report")
        await bug.get_by_role("button", name="Save").click()
        await expect(page.locator(".label-edit .chip.purple")).to_have_text("Bug report", timeout=RELOAD_MS)
        await page.get_by_role("button", name="Delete “VIP”").click()
        await expect(page.locator(".label-edit")).to_have_count(2, timeout=RELOAD_MS)
        await page.evaluate("window.scrollTo(0, 0)")
        await shoot(page, "portal-labels-1280")
        await page.set_viewport_size({"width": 360, "height": 740})
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        await shoot(page, "portal-labels-360")
        await page.set_viewport_size({"width": 1280, "height": 800})

        await page.get_by_role("link", name="Team").click()
        switch = page.get_by_label("Round-robin")
        await expect(switch).not_to_be_checked()
        await switch.check()
        await page.locator("#round-robin").get_by_role("button", name="Save").click()
        await expect(page.locator("#round-robin-status")).to_have_text("Saved")
        await shoot(page, "portal-team-round-robin-1280")
        await page.set_viewport_size({"width": 360, "height": 740})
        await page.locator("#round-robin").scroll_into_view_if_needed()
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        await shoot(page, "portal-team-round-robin-360")
        await page.reload()
        await expect(page.get_by_label("Round-robin")).to_be_checked()
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {owner_token}"}) as api:
        assert (await api.get("/api/settings")).json()["round_robin"] is True
        names = [label["name"] for label in (await api.get("/api/labels")).json()["labels"]]
        assert names == ["Bug report", "Refund"]
    assert errors == []


async def test_screenshots_of_mission_control_with_assignments_and_labels(
    hub: RunningHub, chromium: Chromium, visitors: Any
) -> None:
    """A team's morning: conversations assigned to several people, labelled, one transferred with a note."""
    tenant = await hub.tenant()
    anna, anna_id, anna_token = await staff(hub, tenant.id, "Anna")
    _, ben_id, _ = await staff(hub, tenant.id, "Ben")
    _, _, owner_token = await staff(hub, tenant.id, "Olga", "owner")
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {owner_token}"}) as owner:
        made = {}
        for name, color in (("Refund", "red"), ("VIP", "yellow"), ("Shipping", "blue"), ("Bug", "purple")):
            made[name] = (await owner.post("/api/labels", json={"name": name, "color": color})).json()["id"]
        clients = await visitors(
            tenant.id,
            "My parcel is two weeks late",
            "Can I pay by invoice?",
            "The app crashes when I pay",
            "Do you ship to Norway?",
            "I'd like a refund for my order",
        )
        ids = [client.ready["session_id"] for client in clients]
        plan = [
            (ben_id, ["Shipping", "VIP"]),
            (anna_id, []),
            (None, ["Bug"]),
            (None, ["Shipping"]),
            (anna_id, ["Refund", "VIP"]),
        ]
        for session_id, (assignee, names) in zip(ids, plan, strict=True):
            if assignee:
                await owner.put(f"/api/chat/sessions/{session_id}/assignee", json={"agent_id": assignee})
            for name in names:
                await owner.put(f"/api/chat/sessions/{session_id}/labels/{made[name]}")
        await clients[3].send({"type": "handoff", "reason": "Norway shipping costs"})
        async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {anna_token}"}) as api:
            await api.post(
                f"/api/chat/sessions/{ids[0]}/transfer",
                json={"agent_id": anna_id, "note": "Ben is off today: the carrier says it is in Oslo, call them back."},
            )
        async with chromium() as browser:
            page, errors = await desk(browser, hub, anna)
            await row(page, ids[0]).click()
            await expect(page.locator("#transfer-note")).to_be_visible()
            await page.get_by_role("button", name="Assign or transfer").click()
            await shoot(page, "mission-control-assign-1280")
            await page.keyboard.press("Escape")
            await shoot(page, "mission-control-1280")
            await page.locator(".views").get_by_role("button", name="Mine").click()
            await shoot(page, "mission-control-mine-1280")

            phone, phone_errors = await desk(browser, hub, anna, **PHONE)
            await expect(phone.locator("#sessions li.session")).to_have_count(5)
            await shoot(phone, "mission-control-list-360")
            await row(phone, ids[0]).tap()
            await phone.get_by_role("button", name="Labels", exact=True).tap()
            await shoot(phone, "mission-control-conversation-360")
            assert await phone.evaluate("document.documentElement.scrollWidth") <= 360
        assert errors == [] and phone_errors == []
