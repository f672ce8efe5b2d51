"""The team of a tenant: invitations by one-time link, deactivating and reactivating a teammate (their logins end
at once: HTTP 401, Mission Control closed with 4401), the conversations they had going back to the Waiting
queue, and owners' password links. Tenants never reach each other's team; bad input is a 400 with the error
shape; a link works once, until it expires."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import update

from hub.auth.permissions import PLATFORM_BUSINESS_ID
from hub.auth.tokens import revoke_user_tokens
from hub.store.tables import invites, password_resets
from hub.store.transcript import get_session
from tests.accounts import create_tenant
from tests.agents import PASSWORD, Agent, agent_account, agent_socket, login
from tests.conftest import RunningHub, visitor
from tests.test_security_headers import APP_PAGE_POLICY, policy


async def client_for(hub: RunningHub, tenant_id: str, name: str, role: str) -> httpx.AsyncClient:
    token = str((await login(hub.http, await agent_account(hub.node.engine, tenant_id, name, role)))["token"])
    return httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"})


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


async def closed_with(agent: Agent, timeout: float = 3.0) -> tuple[int | None, str]:
    """Read until the hub closes the socket; how it closed it."""
    try:
        while True:
            await asyncio.wait_for(agent.connection.recv(), timeout=timeout)
    except websockets.ConnectionClosed as closed:
        return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, "")


async def accept(web: httpx.AsyncClient, link: str, password: str, **more: Any) -> httpx.Response:
    return await web.post("/api/invites/accept", json={"token": token_of(link), "password": password, **more})


async def new_password(web: httpx.AsyncClient, link: str, password: str) -> httpx.Response:
    return await web.post("/api/auth/password-reset/complete", json={"token": token_of(link), "password": password})


async def invite(owner: httpx.AsyncClient, email: str, **fields: Any) -> dict[str, Any]:
    made = await owner.post("/api/invites", json={"email": email, **fields})
    assert made.status_code == 201, made.text
    answer: dict[str, Any] = made.json()
    return answer


async def test_an_invitee_opens_the_link_sets_a_password_and_is_logged_in_where_their_role_works(
    hub: RunningHub,
) -> None:
    tenant = await hub.tenant()
    async with await client_for(hub, tenant.id, "Olga", "owner") as owner, httpx.AsyncClient(base_url=hub.http) as web:
        sent = await invite(owner, " Anna@Shop.example.com ", name="Anna from Acme", role="agent")
        assert sent["emailed"] is False, "no SMTP: the link is for the inviter to pass on"
        assert sent["link"].startswith(f"{hub.http}/invite/inv_")
        assert sent["invite"]["email"] == "anna@shop.example.com" and sent["invite"]["role"] == "agent"
        listed = (await owner.get("/api/invites")).json()
        assert [i["email"] for i in listed["invites"]] == ["anna@shop.example.com"] and listed["emails"] is False
        team = (await owner.get("/api/users")).json()
        assert team["seats_taken"] == 1 and team["seats_invited"] == 1, "a pending invitation holds a seat"

        page = await web.get(sent["link"])
        assert page.status_code == 200 and "Acme Test" in page.text and "anna@shop.example.com" in page.text
        assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
        assert (await web.get(sent["link"])).status_code == 200, "opening the link uses nothing up"

        token = token_of(sent["link"])
        accepted = await web.post(
            "/api/invites/accept", json={"token": token, "password": "anna-pass-1", "name": "Anna"}
        )
        assert accepted.status_code == 200, accepted.text
        body = accepted.json()
        assert body["home"] == "/mission-control" and body["user"]["name"] == "Anna" and body["user"]["role"] == "agent"
        assert "bob_session" in accepted.cookies
        me = await web.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
        assert me.status_code == 200 and me.json()["email"] == "anna@shop.example.com"
        assert (await login(hub.http, "anna@shop.example.com", "anna-pass-1"))["user"]["tenant_id"] == tenant.id

        again = await accept(web, sent["link"], "other-pass-1")
        assert again.status_code == 410 and again.json()["error"]["code"] == "link_invalid"
        assert (await web.get(sent["link"])).status_code == 410
        assert (await owner.get("/api/invites")).json()["invites"] == []
        assert (await owner.get("/api/users")).json()["seats_taken"] == 2


async def test_an_invited_owner_lands_in_the_portal(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with await client_for(hub, tenant.id, "Olga", "owner") as owner, httpx.AsyncClient(base_url=hub.http) as web:
        sent = await invite(owner, "co-owner@shop.example.com", role="owner")
        assert sent["invite"]["name"] == "co-owner", "the name defaults to the email's local part"
        accepted = await web.post(
            "/api/invites/accept", json={"token": token_of(sent["link"]), "password": "owner-pass-1"}
        )
        assert accepted.status_code == 200 and accepted.json()["home"] == "/portal/widget"


async def test_invitations_hold_seats_until_revoked_and_the_plan_refuses_more(hub: RunningHub) -> None:
    tenant = await hub.tenant()  # starter: 3 seats
    async with await client_for(hub, tenant.id, "Olga", "owner") as owner:
        first = await invite(owner, "one@shop.example.com")
        await invite(owner, "two@shop.example.com")
        full = await owner.post("/api/invites", json={"email": "three@shop.example.com"})
        assert full.status_code == 409 and full.json()["error"]["code"] == "seat_limit"
        adding = await owner.post("/api/users", json={"email": "four@shop.example.com", "password": PASSWORD})
        assert adding.status_code == 409, "adding an account directly respects the invitations' seats too"
        assert (await owner.delete(f"/api/invites/{first['invite']['id']}")).status_code == 204
        assert (await owner.delete(f"/api/invites/{first['invite']['id']}")).status_code == 404
        await invite(owner, "three@shop.example.com")


async def test_an_existing_account_or_a_pending_invitation_is_a_clear_409(hub: RunningHub) -> None:
    tenant, other = await hub.tenant(), await hub.tenant()
    taken = await agent_account(hub.node.engine, other.id, "Taken")
    async with await client_for(hub, tenant.id, "Olga", "owner") as owner:
        refused = await owner.post("/api/invites", json={"email": taken.upper()})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "email_taken"
        assert taken in refused.json()["error"]["message"]
        await invite(owner, "new@shop.example.com")
        twice = await owner.post("/api/invites", json={"email": "new@shop.example.com"})
        assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_invited"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": ""},
        {"email": "not-an-email"},
        {"email": "a@b"},
        {"email": "x" * 250 + "@example.com"},
        {"email": "anna@shop.example.com", "role": "admin"},
        {"email": "anna@shop.example.com", "role": "customer"},
        {"email": "anna@shop.example.com", "name": "A\nB"},
        {"email": "anna@shop.example.com", "name": "x" * 81},
        {"email": 5},
        [],
    ],
)
async def test_a_bad_invitation_is_a_400_with_the_error_shape(hub: RunningHub, body: Any) -> None:
    tenant = await hub.tenant()
    async with await client_for(hub, tenant.id, "Olga", "owner") as owner:
        response = await owner.post("/api/invites", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_input" and response.json()["error"]["message"]
        assert (await owner.get("/api/invites")).json()["invites"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"token": "inv_x", "password": "short"},
        {"token": "", "password": "long-enough-1"},
        {"token": "t" * 101, "password": "long-enough-1"},
        {"password": "long-enough-1"},
        {"token": "inv_x", "password": "long-enough-1", "name": "A\x07"},
    ],
)
async def test_bad_acceptances_are_400s_and_an_unknown_link_is_a_410(hub: RunningHub, body: Any) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as web:
        response = await web.post("/api/invites/accept", json=body)
        assert response.status_code == 400, response.text
        unknown = await web.post("/api/invites/accept", json={"token": "inv_nothing", "password": "long-enough-1"})
        assert unknown.status_code == 410 and unknown.json()["error"]["code"] == "link_invalid"
        page = await web.get("/invite/inv_nothing")
        assert page.status_code == 410 and "no longer works" in page.text


async def test_an_expired_resent_or_revoked_link_no_longer_works(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with await client_for(hub, tenant.id, "Olga", "owner") as owner, httpx.AsyncClient(base_url=hub.http) as web:
        sent = await invite(owner, "late@shop.example.com")
        async with hub.node.engine.begin() as connection:
            await connection.execute(update(invites).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
        expired = await accept(web, sent["link"], "pass-1234")
        assert expired.status_code == 410
        assert (await web.get(sent["link"])).status_code == 410
        assert (await owner.get("/api/invites")).json()["invites"][0]["email"] == "late@shop.example.com"
        assert (await owner.get("/api/users")).json()["seats_taken"] == 1

        again = (await owner.post(f"/api/invites/{sent['invite']['id']}/resend")).json()
        assert again["link"] != sent["link"] and again["invite"]["id"] == sent["invite"]["id"]
        assert datetime.fromisoformat(again["invite"]["expires_at"]) > datetime.now(UTC) + timedelta(days=6)
        assert (await web.get(sent["link"])).status_code == 410, "a resend replaces the link"
        assert (await web.get(again["link"])).status_code == 200

        await owner.delete(f"/api/invites/{sent['invite']['id']}")
        revoked = await web.post(
            "/api/invites/accept", json={"token": token_of(again["link"]), "password": "pass-1234"}
        )
        assert revoked.status_code == 410
        assert (await owner.post(f"/api/invites/{sent['invite']['id']}/resend")).status_code == 404


async def test_two_acceptances_of_one_link_make_one_account(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with await client_for(hub, tenant.id, "Olga", "owner") as owner, httpx.AsyncClient(base_url=hub.http) as web:
        sent = await invite(owner, "racer@shop.example.com")
        body = {"token": token_of(sent["link"]), "password": "racer-pass-1"}
        answers = await asyncio.gather(*(web.post("/api/invites/accept", json=body) for _ in range(3)))
        assert sorted(a.status_code for a in answers)[0] == 200
        assert [a.status_code for a in answers].count(200) == 1, [a.text for a in answers]
        assert all(a.status_code in (200, 409, 410) for a in answers)
        team = (await owner.get("/api/users")).json()["users"]
        assert [u["email"] for u in team].count("racer@shop.example.com") == 1


async def test_an_owner_of_one_tenant_neither_invites_into_nor_deactivates_in_another(hub: RunningHub) -> None:
    shop_a, shop_b = await hub.tenant(), await hub.tenant()
    agent_b_email = await agent_account(hub.node.engine, shop_b.id, "Bea")
    agent_b = (await login(hub.http, agent_b_email))["user"]
    async with (
        await client_for(hub, shop_a.id, "Alex", "owner") as owner_a,
        await client_for(hub, shop_b.id, "Bo", "owner") as owner_b,
    ):
        invite_b = await invite(owner_b, "b-invitee@shop.example.com")
        other = {"params": {"business_id": shop_b.business_id}}
        assert (await owner_a.post("/api/invites", json={"email": "x@shop.example.com"}, **other)).status_code == 403
        assert (await owner_a.get("/api/invites", **other)).status_code == 403
        assert (await owner_a.get("/api/invites")).json()["invites"] == [], "A sees none of B's invitations"
        for path in (f"/api/invites/{invite_b['invite']['id']}/resend",):
            assert (await owner_a.post(path)).status_code == 404
        assert (await owner_a.delete(f"/api/invites/{invite_b['invite']['id']}")).status_code == 404
        for action in ("deactivate", "reactivate", "password-link"):
            refused = await owner_a.post(f"/api/users/{agent_b['id']}/{action}")
            assert refused.status_code == 404, (action, refused.text)
            assert (await owner_a.post(f"/api/users/{agent_b['id']}/{action}", **other)).status_code == 403
        assert (await login(hub.http, agent_b_email))["user"]["id"] == agent_b["id"], "B's agent is untouched"
        assert [i["email"] for i in (await owner_b.get("/api/invites")).json()["invites"]] == [
            "b-invitee@shop.example.com"
        ]
    async with await client_for(hub, shop_a.id, "Ann", "agent") as agent_a:
        assert (await agent_a.post("/api/invites", json={"email": "y@shop.example.com"})).status_code == 403
        assert (await agent_a.post(f"/api/users/{agent_b['id']}/deactivate")).status_code == 403


async def test_deactivating_ends_every_login_at_once_and_reactivating_lets_them_log_in_again(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    email = await agent_account(hub.node.engine, tenant.id, "Anna")
    first, second = (await login(hub.http, email)), (await login(hub.http, email))
    async with (
        await client_for(hub, tenant.id, "Olga", "owner") as owner,
        agent_socket(hub.ws, token=first["token"]) as socket,
        httpx.AsyncClient(base_url=hub.http) as web,
    ):
        team = (await owner.get("/api/users")).json()
        assert team["seats_taken"] == 2
        acted = time.monotonic()
        answer = await owner.post(f"/api/users/{first['user']['id']}/deactivate")
        assert answer.status_code == 200 and answer.json()["disabled"] is True
        for token in (first["token"], second["token"]):
            me = await web.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 401, "refused from the commit on"
        code, reason = await closed_with(socket)
        assert (code, reason) == (4401, "account deactivated: this login has ended")
        assert time.monotonic() - acted < 2.0
        refused = await web.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "account_deactivated"
        wrong = await web.post("/api/auth/login", json={"email": email, "password": "wrong-password"})
        assert wrong.status_code == 401, "without the password, nothing says the account exists"
        assert (await owner.get("/api/users")).json()["seats_taken"] == 1, "the seat is free"
        assert (await owner.post(f"/api/users/{first['user']['id']}/password-link")).status_code == 403

        back = await owner.post(f"/api/users/{first['user']['id']}/reactivate")
        assert back.status_code == 200 and back.json()["disabled"] is False
        assert (await login(hub.http, email))["user"]["id"] == first["user"]["id"]
        me = await web.get("/api/auth/me", headers={"Authorization": f"Bearer {first['token']}"})
        assert me.status_code == 401, "the logins that ended stay ended"


async def test_a_socket_whose_sign_out_frame_was_missed_is_closed_by_the_nodes_own_check(hub: RunningHub) -> None:
    """A node that missed ``sessions_ended`` (Redis away longer than it keeps publishes) checks every socket it
    holds against the store on the broker's resync, and each minute: one query, never one per frame."""
    tenant = await hub.tenant()
    anna = await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Anna"))
    ben = await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Ben"))
    async with agent_socket(hub.ws, token=anna["token"]) as gone, agent_socket(hub.ws, token=ben["token"]) as stays:
        async with hub.node.engine.begin() as connection:  # revoked in the store, and no frame said so
            await revoke_user_tokens(connection, anna["user"]["id"])
        assert await hub.node.signouts.recheck() == 1
        assert await closed_with(gone) == (4401, "this login has ended (revoked); log in again")
        await stays.send({"type": "ping"})
        assert (await stays.until(lambda f: f["type"] == "pong"))[-1]["type"] == "pong"
        assert await hub.node.signouts.recheck() == 0


async def test_an_owner_cannot_deactivate_themselves_nor_the_last_owner(hub: RunningHub) -> None:
    platform = await create_tenant(hub.node.engine, name="Platform", business_id=PLATFORM_BUSINESS_ID)
    tenant = await hub.tenant()
    async with (
        await client_for(hub, tenant.id, "Olga", "owner") as owner,
        await client_for(hub, platform.id, "Sam", "admin") as admin,
    ):
        me = (await owner.get("/api/auth/me")).json()
        own = await owner.post(f"/api/users/{me['id']}/deactivate")
        assert own.status_code == 409 and own.json()["error"]["code"] == "own_account"
        on_tenant = {"params": {"business_id": tenant.business_id}}
        last = await admin.post(f"/api/users/{me['id']}/deactivate", **on_tenant)
        assert last.status_code == 409 and last.json()["error"]["code"] == "last_owner"
        assert (await owner.get("/api/auth/me")).status_code == 200

        second = await agent_account(hub.node.engine, tenant.id, "Otto", "owner")
        second_id = (await login(hub.http, second))["user"]["id"]
        assert (await owner.post(f"/api/users/{second_id}/deactivate")).status_code == 200
        admin_me = (await admin.get("/api/auth/me")).json()
        assert (await owner.post(f"/api/users/{admin_me['id']}/deactivate")).status_code == 404, "not of the tenant"


async def test_a_deactivated_agents_conversations_go_back_to_the_waiting_queue(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    leaving = await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Anna"))
    staying = await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Ben"))
    async with (
        await client_for(hub, tenant.id, "Olga", "owner") as owner,
        visitor(hub.ws, tenant.id) as client,
        agent_socket(hub.ws, token=leaving["token"]) as anna,
        agent_socket(hub.ws, token=staying["token"]) as ben,
    ):
        await client.say("My order never came")
        await client.ai_reply()
        session_id = client.ready["session_id"]
        assert (await anna.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
        await client.until(lambda f: f["type"] == "message" and f.get("event") == "takeover")

        assert (await owner.post(f"/api/users/{leaving['user']['id']}/deactivate")).status_code == 200
        told = await client.until(lambda f: f["type"] == "message" and f.get("event") == "handoff_requested")
        assert told[-1]["role"] == "system" and told[-1]["text"].startswith("Anna is no longer available")
        patch = await ben.seen(
            lambda f: f["type"] == "session" and (f["session"].get("waiting") or {}).get("reason") == "agent_left"
        )
        assert patch["session"]["id"] == session_id
        state = await get_session(hub.node.engine, tenant.id, session_id)
        assert state is not None and state.mode == "ai" and state.owner_id is None and state.waiting is not None
        assert (await ben.command({"type": "takeover", "session_id": session_id}))["type"] == "ok", "no claim left"


async def test_reactivating_needs_a_free_seat(hub: RunningHub) -> None:
    tenant = await hub.tenant()  # starter: 3 seats
    gone = await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Gone"))
    async with await client_for(hub, tenant.id, "Olga", "owner") as owner:
        await agent_account(hub.node.engine, tenant.id, "Two")
        assert (await owner.post(f"/api/users/{gone['user']['id']}/deactivate")).status_code == 200
        await invite(owner, "three@shop.example.com")
        full = await owner.post(f"/api/users/{gone['user']['id']}/reactivate")
        assert full.status_code == 409 and full.json()["error"]["code"] == "seat_limit"


async def test_an_owners_password_link_sets_a_teammates_password_and_ends_their_logins(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    email = await agent_account(hub.node.engine, tenant.id, "Anna")
    anna = await login(hub.http, email)
    async with (
        await client_for(hub, tenant.id, "Olga", "owner") as owner,
        httpx.AsyncClient(base_url=hub.http) as web,
        agent_socket(hub.ws, token=anna["token"]) as socket,
    ):
        made = await owner.post(f"/api/users/{anna['user']['id']}/password-link")
        assert made.status_code == 200 and made.json()["emailed"] is False
        link = made.json()["link"]
        assert link.startswith(f"{hub.http}/reset-password/pwr_")
        page = await web.get(link)
        assert page.status_code == 200 and email in page.text
        done = await web.post(
            "/api/auth/password-reset/complete", json={"token": token_of(link), "password": "fresh-pass-1"}
        )
        assert done.status_code == 200 and done.json()["home"] == "/mission-control"
        assert (await closed_with(socket)) == (4401, "password reset: this login has ended; log in again")
        old = await web.get("/api/auth/me", headers={"Authorization": f"Bearer {anna['token']}"})
        assert old.status_code == 401
        new = await web.get("/api/auth/me", headers={"Authorization": f"Bearer {done.json()['token']}"})
        assert new.status_code == 200
        assert (await login(hub.http, email, "fresh-pass-1"))["user"]["id"] == anna["user"]["id"]
        used = await web.post(
            "/api/auth/password-reset/complete", json={"token": token_of(link), "password": "again-pass-1"}
        )
        assert used.status_code == 410 and used.json()["error"]["code"] == "link_invalid"
        me = (await owner.get("/api/auth/me")).json()
        assert (await owner.post(f"/api/users/{me['id']}/password-link")).json()["error"]["code"] == "own_account"


async def test_a_password_link_expires_and_a_newer_password_voids_the_older_links(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    anna = await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Anna"))
    async with await client_for(hub, tenant.id, "Olga", "owner") as owner, httpx.AsyncClient(base_url=hub.http) as web:
        url = f"/api/users/{anna['user']['id']}/password-link"
        older, newer = (await owner.post(url)).json()["link"], (await owner.post(url)).json()["link"]
        done = await web.post(
            "/api/auth/password-reset/complete", json={"token": token_of(newer), "password": "pass-1234"}
        )
        assert done.status_code == 200
        assert (await web.get(older)).status_code == 410, "the newest password is the one that counts"
        late = (await owner.post(url)).json()["link"]
        async with hub.node.engine.begin() as connection:
            await connection.execute(
                update(password_resets).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        page = await web.get(late)
        assert page.status_code == 410 and "Ask for a new link" in page.text
        expired = await web.post(
            "/api/auth/password-reset/complete", json={"token": token_of(late), "password": "pass-5678"}
        )
        assert expired.status_code == 410


async def test_forgot_password_without_smtp_says_so_and_points_to_an_owner(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as web:
        asked = await web.post("/api/auth/password-reset", json={"email": "anyone@shop.example.com"})
        assert asked.status_code == 409 and asked.json()["error"]["code"] == "mail_unavailable"
        page = await web.get("/forgot-password")
        assert page.status_code == 200 and "sends no email" in page.text and 'id="forgot-form"' not in page.text


async def test_the_pages_of_one_time_links_run_only_the_hubs_scripts_and_keep_their_token_to_themselves(
    hub: RunningHub,
) -> None:
    tenant = await hub.tenant()
    anna = await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Anna"))
    async with await client_for(hub, tenant.id, "Olga", "owner") as owner, httpx.AsyncClient(base_url=hub.http) as web:
        invitation = (await invite(owner, "ivy@shop.example.com"))["link"]
        password = (await owner.post(f"/api/users/{anna['user']['id']}/password-link")).json()["link"]
        pages = [
            await web.get(invitation),
            await web.get(password),
            await web.get("/forgot-password?from=mission-control"),
            await web.get("/invite/inv_unknown"),
            await web.get("/reset-password/pwr_unknown"),
        ]
    assert [page.status_code for page in pages] == [200, 200, 200, 410, 410]
    for page in pages:
        assert page.headers["content-type"].startswith("text/html"), page.url
        assert policy(page) == APP_PAGE_POLICY, page.url
        assert page.headers.get_list("x-frame-options") == ["DENY"], page.url
        assert page.headers.get_list("referrer-policy") == ["no-referrer"], page.url
        assert page.headers["cache-control"] == "no-store" and page.headers["x-robots-tag"] == "noindex"
