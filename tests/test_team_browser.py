"""The team in a real browser (Debian's Chromium): an owner invites a teammate without SMTP and copies the link,
the invitee opens it in a fresh browser, chooses a password and lands in Mission Control; an owner deactivates
a teammate whose open Mission Control closes at once, then reactivates them; a person who forgot their password
gets a link by email (the local SMTP server) and sets a new one. Screenshots of the Team page, the invitation
page and the password pages, at 1280 and 360 px, go to HUB_SHOTS_DIR when it is set."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Page, expect

from tests.accounts import create_user
from tests.agents import PASSWORD, agent_account
from tests.browser import Chromium
from tests.conftest import RunningHub
from tests.smtp_inbox import Inbox, body
from tests.test_dashboard_browser import log_in
from tests.test_reply_email_browser import SIZES, shoot

OWNER = "owner@team.example.com"


async def both_sizes(page: Page, name: str) -> None:
    """The page as it is now, on a desk and on a phone (then back to the desk)."""
    await shoot(page, f"{name}-1280", full_page=True)
    await page.set_viewport_size(SIZES["phone"])
    await shoot(page, f"{name}-360", full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), f"{name}: no sideways"
    await page.set_viewport_size(SIZES["desktop"])


async def page_of(browser: Browser, **options: object) -> tuple[Page, list[str]]:
    context = await browser.new_context(viewport=SIZES["desktop"], **options)  # type: ignore[arg-type]
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page, errors


async def owner_on_team_page(hub: RunningHub, page: Page) -> None:
    await page.goto(f"{hub.http}/portal/login")
    await page.get_by_label("Email").fill(OWNER)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Widget Setup")).to_be_visible()
    await page.get_by_role("link", name="Team").click()
    await expect(page.get_by_role("heading", name="Team", exact=True)).to_be_visible()
    await page.wait_for_load_state()  # the page's script has its buttons


async def test_an_invitation_link_copied_without_smtp_lets_the_invitee_join_and_land_in_mission_control(
    hub: RunningHub, chromium: Chromium
) -> None:
    tenant = await hub.tenant()
    await create_user(hub.node.engine, tenant_id=tenant.id, email=OWNER, password=PASSWORD, role="owner", name="Olga")
    async with chromium() as browser:
        owner, owner_errors = await page_of(browser, permissions=["clipboard-read", "clipboard-write"])
        await owner_on_team_page(hub, owner)
        await owner.get_by_label("Email").fill("anna@team.example.com")
        await owner.get_by_label("Name").fill("Anna from Acme")
        await owner.get_by_label("Role").select_option("agent")
        await owner.get_by_role("button", name="Create invitation link").click()
        status = owner.get_by_role("status").filter(has_text="Pass this link on")
        await expect(status).to_contain_text("anna@team.example.com")
        link_field = owner.get_by_label("Invitation link for anna@team.example.com")
        await expect(link_field).to_have_value(re.compile(rf"^{re.escape(hub.http)}/invite/inv_"))
        await owner.get_by_role("button", name="Copy link").click()
        await expect(owner.locator("#copy-status")).to_have_text("Copied")
        link = await owner.evaluate("navigator.clipboard.readText()")
        assert link == await link_field.input_value()
        await expect(owner.locator("#invites tbody tr")).to_have_count(1)
        await expect(owner.locator("#invites")).to_contain_text("Anna from Acme")
        await both_sizes(owner, "team-invited")

        invitee, invitee_errors = await page_of(browser)  # a fresh browser: nothing stored
        await invitee.goto(link)
        await expect(invitee.get_by_role("heading", name="Join Acme Test")).to_be_visible()
        await expect(invitee.get_by_label("Email")).to_have_value("anna@team.example.com")
        await expect(invitee.get_by_label("Name")).to_have_value("Anna from Acme")
        await both_sizes(invitee, "invite")
        await invitee.get_by_label("Name").fill("Anna")
        await invitee.get_by_label("Password", exact=True).fill("anna-pass-1")
        await invitee.get_by_label("Password again").fill("anna-pass-2")
        await invitee.get_by_role("button", name="Join the team").click()
        await expect(invitee.get_by_role("alert")).to_have_text("The two passwords differ.")
        await invitee.get_by_label("Password again").fill("anna-pass-1")
        await invitee.get_by_label("Password again").press("Enter")  # the keyboard submits the form
        await expect(invitee).to_have_url(re.compile("/mission-control$"))
        await expect(invitee.locator("#connection")).to_have_text("Connected")

        await invitee.goto(link)  # the link worked once
        await expect(invitee.get_by_role("heading", name="This invitation link no longer works")).to_be_visible()
        await both_sizes(invitee, "invite-used")

        await owner.reload()
        await expect(owner.locator("#team")).to_contain_text("anna@team.example.com")
        await expect(owner.locator("#no-invites")).to_be_visible()
        await expect(owner.locator("#seats")).to_have_text("2 of 3")
    assert owner_errors == [] and invitee_errors == []


async def test_a_deactivated_teammates_mission_control_closes_at_once_and_reactivating_lets_them_back(
    hub: RunningHub, chromium: Chromium
) -> None:
    tenant = await hub.tenant()
    await create_user(hub.node.engine, tenant_id=tenant.id, email=OWNER, password=PASSWORD, role="owner", name="Olga")
    anna = await agent_account(hub.node.engine, tenant.id, "Anna")
    async with chromium() as browser:
        agent, agent_errors = await page_of(browser)
        await log_in(agent, hub, anna)
        owner, owner_errors = await page_of(browser)
        await owner_on_team_page(hub, owner)
        row = owner.locator("#team tr", has_text=anna)
        await row.get_by_role("button", name="Deactivate Anna").click()
        dialog = owner.get_by_role("dialog", name="Deactivate Anna?")
        await expect(dialog).to_be_visible()
        await both_sizes(owner, "team-deactivate-dialog")
        await owner.keyboard.press("Escape")  # the keyboard cancels
        await expect(dialog).to_be_hidden()
        await expect(row).to_contain_text("Active")

        await row.get_by_role("button", name="Deactivate Anna").click()
        await dialog.get_by_role("button", name="Deactivate").click()
        await expect(owner.get_by_role("status").filter(has_text="deactivated")).to_contain_text("Anna")
        await expect(owner.locator("#team tr", has_text=anna)).to_contain_text("Deactivated")
        # Mission Control was closed with 4401 and went to its login page; the account logs in no more.
        await expect(agent).to_have_url(re.compile("/mission-control/login$"), timeout=3000)
        await agent.get_by_label("Email").fill(anna)
        await agent.get_by_label("Password").fill(PASSWORD)
        await agent.get_by_role("button", name="Log in").click()
        await expect(agent.get_by_role("alert")).to_contain_text("deactivated")
        await both_sizes(owner, "team-deactivated")

        await owner.locator("#team tr", has_text=anna).get_by_role("button", name="Reactivate Anna").click()
        await expect(owner.get_by_role("status").filter(has_text="can log in again")).to_be_visible()
        await log_in(agent, hub, anna)
    assert owner_errors == [] and agent_errors == []


def reset_link(text: str) -> str:
    found = re.search(r"https?://\S+/reset-password/\S+", text)
    assert found, text
    return found.group(0)


async def test_forgot_password_emails_a_link_that_sets_a_new_password_and_lands_in_mission_control(
    mail_hub: RunningHub, inbox: Inbox, chromium: Chromium
) -> None:
    hub = mail_hub
    tenant = await hub.tenant()
    anna = await agent_account(hub.node.engine, tenant.id, "Anna")
    async with chromium() as browser:
        page, errors = await page_of(browser)
        await page.goto(f"{hub.http}/mission-control")
        await expect(page).to_have_url(re.compile("/mission-control/login$"))
        await both_sizes(page, "mission-control-login")
        await page.get_by_role("link", name="Forgot your password?").click()
        await expect(page).to_have_url(re.compile(r"/forgot-password\?from=mission-control$"))
        await both_sizes(page, "forgot-password")
        await page.get_by_label("Email").fill(anna)
        await page.get_by_role("button", name="Send me a link").click()
        await expect(page.get_by_role("status")).to_contain_text("If an account has this email")
        await both_sizes(page, "forgot-password-sent")
        await expect(page.get_by_role("link", name="Back to log in")).to_have_attribute(
            "href", "/mission-control/login"
        )

        [email] = await inbox.wait_for(1)
        assert email["To"] == anna and email["Subject"] == "A new password for Bob"
        link = reset_link(body(email))
        assert link.startswith(f"{hub.http}/reset-password/pwr_")

        fresh, fresh_errors = await page_of(browser)
        await fresh.goto(link)
        await expect(fresh.get_by_role("heading", name="Choose a new password")).to_be_visible()
        await expect(fresh.get_by_label("Email")).to_have_value(anna)
        await both_sizes(fresh, "reset-password")
        await fresh.get_by_label("New password", exact=True).fill("brand-new-pass")
        await fresh.get_by_label("New password again").fill("brand-new-pass")
        await fresh.get_by_role("button", name="Save the new password").click()
        await expect(fresh).to_have_url(re.compile("/mission-control$"))
        await expect(fresh.locator("#connection")).to_have_text("Connected")

        await fresh.goto(link)
        await expect(fresh.get_by_role("heading", name="This password link no longer works")).to_be_visible()
        await both_sizes(fresh, "reset-password-used")
        await fresh.get_by_role("link", name="Ask for a new link").click()
        await expect(fresh).to_have_url(re.compile("/forgot-password$"))
    assert errors == [] and fresh_errors == []
