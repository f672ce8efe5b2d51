"""The login page's form sent by the browser itself (Enter pressed before the page's script arrived): the person
is logged in all the same, and the password never appears in an address."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import httpx
from playwright.async_api import expect

from tests.agents import PASSWORD, agent_account
from tests.browser import Chromium, arriving_late
from tests.conftest import RunningHub

FORM = {"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"}


async def test_a_form_sent_without_the_script_logs_in_and_goes_on_to_mission_control(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    email = await agent_account(hub.node.engine, tenant.id, "Anna")
    async with httpx.AsyncClient(base_url=hub.http) as client:
        answer = await client.post(
            "/mission-control/login", content=urlencode({"email": email, "password": PASSWORD}), headers=FORM
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/mission-control"
        assert {"bob_session", "bob_csrf"} <= set(client.cookies)
        page = await client.get("/mission-control")
        assert page.status_code == 200 and "Mission Control" in page.text


async def test_a_wrong_password_shows_the_login_page_again_with_the_error_in_the_persons_language(
    hub: RunningHub,
) -> None:
    tenant = await hub.tenant()
    email = await agent_account(hub.node.engine, tenant.id, "Anna")
    body = urlencode({"email": email, "password": "not-the-password"})
    async with httpx.AsyncClient(base_url=hub.http) as client:
        english = await client.post("/portal/login", content=body, headers=FORM)
        polish = await client.post("/portal/login", content=body, headers={**FORM, "Accept-Language": "pl"})
    assert english.status_code == 401 and "Wrong email or password." in english.text
    assert f'value="{email}"' in english.text, "the email stays in the form"
    assert "not-the-password" not in english.text
    assert polish.status_code == 401 and "Błędny e-mail lub hasło." in polish.text
    assert "bob_session" not in english.cookies


async def test_a_login_form_sent_from_another_site_or_not_a_form_is_refused(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    email = await agent_account(hub.node.engine, tenant.id, "Anna")
    body = urlencode({"email": email, "password": PASSWORD})
    async with httpx.AsyncClient(base_url=hub.http) as client:
        other_site = await client.post("/portal/login", content=body, headers={**FORM, "Sec-Fetch-Site": "cross-site"})
        other_origin = await client.post(
            "/portal/login",
            content=body,
            headers={"Content-Type": FORM["Content-Type"], "Origin": "https://evil.example.com"},
        )
        json_body = await client.post("/portal/login", json={"email": email, "password": PASSWORD})
        empty = await client.post("/portal/login", content=b"email=&password=", headers=FORM)
        huge = await client.post("/portal/login", content=b"email=" + b"a" * 10_000, headers=FORM)
    for refused in (other_site, other_origin, json_body, huge):
        assert refused.status_code == 400 and "Log in with the form on this page." in refused.text
        assert "bob_session" not in refused.cookies
    assert empty.status_code == 400 and "Enter your email and password." in empty.text


async def test_enter_pressed_before_the_script_arrives_logs_in_with_no_password_in_any_address(
    hub: RunningHub, chromium: Chromium
) -> None:
    tenant = await hub.tenant()
    email = await agent_account(hub.node.engine, tenant.id, "Anna")
    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        addresses: list[str] = []
        page.on("request", lambda request: addresses.append(request.url))
        await page.route("**/static/portal.js", arriving_late(2))
        await page.goto(f"{hub.http}/mission-control/login", wait_until="commit")
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_label("Password").press("Enter")
        await expect(page).to_have_url(re.compile("/mission-control$"))
        await expect(page.locator("#connection")).to_have_text("Connected")
        await page.context.close()
    assert addresses and not [address for address in addresses if PASSWORD in address or "password" in address]
