"""Team emails through the local SMTP server: an invitation goes to the invitee in the inviter's language and
its link works; "Forgot your password?" emails a one-time link to an active account only, answers the same for
any address, is rate-limited, and the new password ends every other login. An SMTP server that does not take
the invitation hands the inviter the link instead."""

from __future__ import annotations

import asyncio
import re

import httpx

from hub.settings import Settings
from tests.agents import PASSWORD, agent_account, agent_socket, login
from tests.conftest import RunningHub, serve_hub
from tests.services import free_port
from tests.smtp_inbox import MAIL_FROM, Inbox, body
from tests.test_team import accept, client_for, closed_with, new_password


def link_in(text: str, path: str) -> str:
    found = re.search(rf"https?://\S+/{path}/\S+", text)
    assert found, text
    return found.group(0)


async def test_an_invitation_is_emailed_in_the_inviters_language_and_its_link_lets_the_invitee_in(
    mail_hub: RunningHub, inbox: Inbox
) -> None:
    hub = mail_hub
    tenant = await hub.tenant()
    async with await client_for(hub, tenant.id, "Olga", "owner") as owner, httpx.AsyncClient(base_url=hub.http) as web:
        made = await owner.post(
            "/api/invites", json={"email": "anna@shop.example.com", "name": "Anna"}, headers={"Accept-Language": "pl"}
        )
        assert made.status_code == 201, made.text
        assert made.json()["emailed"] is True and made.json()["link"] is None, "the link goes to the invitee only"
        [email] = await inbox.wait_for(1)
        assert email["To"] == "anna@shop.example.com" and email["From"] == MAIL_FROM
        assert email["Subject"] == "Olga zaprasza Cię do zespołu Acme Test"
        text = body(email)
        assert "Dzień dobry, Anna!" in text and "w roli: agent." in text, text
        link = link_in(text, "invite")
        assert link.startswith(f"{hub.http}/invite/inv_"), "built on HUB_PUBLIC_URL"
        assert (await owner.get("/api/invites")).json()["invites"][0]["emailed_at"] is not None

        again = (await owner.post(f"/api/invites/{made.json()['invite']['id']}/resend")).json()
        assert again["emailed"] is True
        second = link_in(body((await inbox.wait_for(2))[1]), "invite")
        assert second != link and (await web.get(link)).status_code == 410
        joined = await accept(web, second, "anna-pass-1")
        assert joined.status_code == 200 and joined.json()["user"]["name"] == "Anna"


async def test_forgot_password_emails_an_active_account_only_and_answers_the_same_for_any_address(
    mail_hub: RunningHub, inbox: Inbox
) -> None:
    hub = mail_hub
    tenant = await hub.tenant()
    anna = await agent_account(hub.node.engine, tenant.id, "Anna")
    gone = await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Gone"))
    async with await client_for(hub, tenant.id, "Olga", "owner") as owner, httpx.AsyncClient(base_url=hub.http) as web:
        assert (await owner.post(f"/api/users/{gone['user']['id']}/deactivate")).status_code == 200
        answers = [
            await web.post("/api/auth/password-reset", json={"email": address})
            for address in (anna.upper(), "nobody@shop.example.com", gone["user"]["email"])
        ]
        assert {a.status_code for a in answers} == {202}
        assert len({a.text for a in answers}) == 1, "the same answer whatever the address"
        [email] = await inbox.wait_for(1)
        assert email["To"] == anna and email["Subject"] == "A new password for Bob"
        await asyncio.sleep(0.5)
        assert len(inbox.messages) == 1, "no email for an unknown or a deactivated account"
        assert link_in(body(email), "reset-password").startswith(f"{hub.http}/reset-password/pwr_")


async def test_asking_for_a_new_password_is_rate_limited_per_email_and_per_address(
    mail_hub: RunningHub, inbox: Inbox
) -> None:
    async with httpx.AsyncClient(base_url=mail_hub.http) as web:
        for _ in range(3):
            assert (await web.post("/api/auth/password-reset", json={"email": "x@shop.example.com"})).status_code == 202
        over = await web.post("/api/auth/password-reset", json={"email": "x@shop.example.com"})
        assert over.status_code == 429 and over.json()["error"]["code"] == "rate_limited"
        assert int(over.headers["retry-after"]) >= 1
        for number in range(6):  # 3 + 1 + 6 = 10 from this address
            assert (
                await web.post("/api/auth/password-reset", json={"email": f"{number}@x.example"})
            ).status_code == 202
        from_here = await web.post("/api/auth/password-reset", json={"email": "fresh@shop.example.com"})
        assert from_here.status_code == 429, "per address, whatever the email"


async def test_the_emailed_link_sets_a_new_password_and_ends_every_other_login(
    mail_hub: RunningHub, inbox: Inbox
) -> None:
    hub = mail_hub
    tenant = await hub.tenant()
    email = await agent_account(hub.node.engine, tenant.id, "Anna")
    first, second = await login(hub.http, email), await login(hub.http, email)
    async with agent_socket(hub.ws, token=first["token"]) as socket, httpx.AsyncClient(base_url=hub.http) as web:
        await web.post("/api/auth/password-reset", json={"email": email})
        link = link_in(body((await inbox.wait_for(1))[0]), "reset-password")
        done = await new_password(web, link, "brand-new-pass")
        assert done.status_code == 200 and done.json()["user"]["email"] == email
        assert await closed_with(socket) == (4401, "password reset: this login has ended; log in again")
        for token in (first["token"], second["token"]):
            assert (await web.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
        me = await web.get("/api/auth/me", headers={"Authorization": f"Bearer {done.json()['token']}"})
        assert me.status_code == 200
        refused = await web.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert refused.status_code == 401
        assert (await login(hub.http, email, "brand-new-pass"))["user"]["email"] == email
        assert (await new_password(web, link, "another-pass")).status_code == 410


async def test_an_invitation_the_smtp_server_does_not_take_hands_the_inviter_the_link(settings: Settings) -> None:
    port = free_port()
    unreachable = settings.with_overrides(
        smtp_url=f"smtp://127.0.0.1:{free_port()}", mail_from=MAIL_FROM, public_url=f"http://127.0.0.1:{port}"
    )
    async with serve_hub(unreachable, port=port) as hub:
        tenant = await hub.tenant()
        async with await client_for(hub, tenant.id, "Olga", "owner") as owner:
            made = await owner.post("/api/invites", json={"email": "anna@shop.example.com"})
            assert made.status_code == 201
            assert made.json()["emailed"] is False and made.json()["link"].startswith(f"{hub.http}/invite/inv_")
