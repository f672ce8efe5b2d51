"""Email continuity: a visitor who left an email address and went away gets the agent's replies by email
(once per burst of replies, once across nodes), through a real SMTP server, with a link that reopens the
same conversation in the widget with its whole transcript."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from hub.chat.followup import check_continue_token, continue_token
from hub.mail import Email, SmtpMailer, parse_smtp_url
from hub.settings import Settings
from tests.agents import Agent, agent_account, agent_socket, login
from tests.conftest import SECRET, RunningHub, serve_hub, visitor
from tests.services import TEST_PASSWORD_HASHING, free_port
from tests.smtp_inbox import MAIL_FROM, Inbox, body, link, mail_settings


async def leave_and_go(hub: RunningHub, tenant_id: str, address: str = "ada@example.com", **extra: Any) -> str:
    """A visitor asks for a person, leaves an address and closes the tab; their session id."""
    async with visitor(hub.ws, tenant_id) as guest:
        await guest.say("Where is my order 1234?")
        await guest.ai_reply()
        await guest.send({"type": "handoff"})
        await guest.send({"type": "email", "address": address, **extra})
        await guest.until(lambda f: f["type"] == "email_saved")
        session_id: str = guest.ready["session_id"]
    return session_id


async def agent_of(hub: RunningHub, tenant_id: str, name: str = "Ann") -> str:
    token: str = (await login(hub.http, await agent_account(hub.node.engine, tenant_id, name)))["token"]
    return token


async def reply(agent: Agent, session_id: str, text: str) -> None:
    answer = await agent.command({"type": "message", "session_id": session_id, "text": text})
    assert answer["type"] == "ok", answer


async def test_a_visitor_who_left_an_email_gets_a_burst_of_agent_replies_in_one_email_with_a_link_back(
    mail_hub: RunningHub, inbox: Inbox
) -> None:
    hub = mail_hub
    tenant = await hub.tenant()
    session_id = await leave_and_go(hub, tenant.id)
    async with agent_socket(hub.ws, token=await agent_of(hub, tenant.id)) as agent:
        assert (await agent.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
        await reply(agent, session_id, "Hi Ada, Ann here.")
        await reply(agent, session_id, "Order 1234 left our warehouse this morning.")
        [email] = await inbox.wait_for(1)
        await asyncio.sleep(1.5)  # well past the burst's end: nothing more comes
        assert len(inbox.messages) == 1, "one email per burst of replies"
        assert email["To"] == "ada@example.com" and email["From"] == MAIL_FROM
        assert email["Subject"] == "A reply from Acme Test"
        text = body(email)
        assert "Hi Ada, Ann here." in text and "Order 1234 left our warehouse this morning." in text
        assert "Where is my order" not in text, "only the replies the visitor has not seen"
        assert link(email).startswith(f"{hub.http}/chat/continue/")
        # A later reply is a new burst, and a new email with only itself.
        await reply(agent, session_id, "It arrives tomorrow.")
        second = (await inbox.wait_for(2))[1]
        assert "It arrives tomorrow." in body(second) and "Ann here" not in body(second)
    async with httpx.AsyncClient() as client:
        page = await client.get(link(second))
    assert page.status_code == 200
    assert f'data-bob-session="{session_id}"' in page.text and f"/widget/{tenant.id}/widget.js" in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"


async def test_a_visitor_who_is_still_there_reads_the_reply_in_the_chat_and_gets_no_email(
    mail_hub: RunningHub, inbox: Inbox
) -> None:
    hub = mail_hub
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as guest:
        await guest.send({"type": "handoff"})
        await guest.send({"type": "email", "address": "bo@example.com"})
        await guest.until(lambda f: f["type"] == "email_saved")
        session_id = guest.ready["session_id"]
        async with agent_socket(hub.ws, token=await agent_of(hub, tenant.id)) as agent:
            assert (await agent.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
            await reply(agent, session_id, "Hello Bo!")
            await guest.until(lambda f: f["type"] == "message" and f["role"] == "agent")
            await asyncio.sleep(1.5)
    assert inbox.messages == []


async def test_the_email_is_written_in_the_language_the_visitor_chose(mail_hub: RunningHub, inbox: Inbox) -> None:
    hub = mail_hub
    tenant = await hub.tenant()
    session_id = await leave_and_go(hub, tenant.id, "ola@example.com", language="pl-PL")
    async with agent_socket(hub.ws, token=await agent_of(hub, tenant.id)) as agent:
        assert (await agent.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
        await reply(agent, session_id, "Dzień dobry!")
        [email] = await inbox.wait_for(1)
    assert email["Subject"] == "Odpowiedź od Acme Test"
    assert "Kontynuuj rozmowę:" in body(email) and "Dzień dobry!" in body(email)


async def test_the_link_is_signed_and_expires(mail_hub: RunningHub) -> None:
    hub = mail_hub
    tenant = await hub.tenant()
    fresh = continue_token(SECRET, tenant.id, "s_abcdefgh12", int(time.time()) + 60)
    expired = continue_token(SECRET, tenant.id, "s_abcdefgh12", int(time.time()) - 1)
    forged = continue_token("another-secret-key-0123456789", tenant.id, "s_abcdefgh12", int(time.time()) + 60)
    assert check_continue_token(SECRET, fresh, time.time()) == (tenant.id, "s_abcdefgh12")
    tampered = fresh.replace("s_abcdefgh12", "s_abcdefgh13")
    async with httpx.AsyncClient(base_url=hub.http) as client:
        assert (await client.get(f"/chat/continue/{fresh}")).status_code == 200
        for bad in (expired, forged, tampered, "nonsense", "a.b.c.d"):
            answer = await client.get(f"/chat/continue/{bad}", headers={"Accept-Language": "pl"})
            assert answer.status_code == 404 and "Ten link wygasł" in answer.text


async def test_owners_are_emailed_and_nobody_else(mail_hub: RunningHub, inbox: Inbox) -> None:
    hub = mail_hub
    tenant, other = await hub.tenant(), await hub.tenant()
    owners = {await agent_account(hub.node.engine, tenant.id, name, "owner") for name in ("Olga", "Oskar")}
    await agent_account(hub.node.engine, tenant.id, "Ann")  # an agent: not an owner
    await agent_account(hub.node.engine, other.id, "Otto", "owner")  # another tenant's owner
    sent = await hub.node.followups.email_owners(tenant.id, "A visitor is still waiting", "Session s_1 waits.")
    assert sent == 2
    emails = await inbox.wait_for(2)
    assert {email["To"] for email in emails} == owners
    assert all(email["Subject"] == "A visitor is still waiting" for email in emails)


async def test_an_smtp_server_that_is_down_is_retried_and_the_reply_emailed_by_the_next_burst(
    settings: Settings, inbox: Inbox
) -> None:
    port = free_port()
    down = Inbox()
    down.port = free_port()  # nothing listens there
    async with serve_hub(mail_settings(settings, down, port), port=port) as hub:
        tenant = await hub.tenant()
        session_id = await leave_and_go(hub, tenant.id)
        async with agent_socket(hub.ws, token=await agent_of(hub, tenant.id)) as agent:
            assert (await agent.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
            await reply(agent, session_id, "First try.")
            sent = await hub.node.followups.send_replies(tenant.id, session_id)
            assert sent is False, "refused after its retries; the replies are given back"
    async with serve_hub(mail_settings(settings, inbox, port), port=port) as hub:
        assert await hub.node.followups.send_replies(tenant.id, session_id) is True
        [email] = await inbox.wait_for(1)
        assert "First try." in body(email)


@pytest.fixture
async def two_mail_nodes(
    redis_url: str, postgres_url: str, inbox: Inbox
) -> AsyncIterator[tuple[RunningHub, RunningHub]]:
    prefix = f"bobtest-{secrets.token_hex(4)}"
    ports = free_port(), free_port()
    base = Settings(
        database_url=postgres_url,
        redis_url=redis_url,
        redis_prefix=prefix,
        secret_key=SECRET,
        secret_key_is_ephemeral=False,
        password_hashing=TEST_PASSWORD_HASHING,
        shutdown_grace_s=0,
        smtp_url=inbox.url,
        mail_from=MAIL_FROM,
        public_url=f"http://127.0.0.1:{ports[0]}",
        mail_debounce_s=0.5,
    )
    try:
        async with (
            serve_hub(base.with_overrides(node_id="a"), port=ports[0]) as one,
            serve_hub(base.with_overrides(node_id="b"), port=ports[1]) as two,
        ):
            yield one, two
    finally:
        client = Redis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_replies_written_on_two_nodes_are_emailed_exactly_once(
    two_mail_nodes: tuple[RunningHub, RunningHub], inbox: Inbox
) -> None:
    one, two = two_mail_nodes
    tenant = await one.tenant()
    session_id = await leave_and_go(two, tenant.id)
    token = await agent_of(one, tenant.id)
    async with agent_socket(one.ws, token=token) as on_one, agent_socket(two.ws, token=token) as on_two:
        assert (await on_one.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
        for number, agent in enumerate((on_one, on_two, on_one, on_two)):
            await reply(agent, session_id, f"Reply {number} from node {'ab'[number % 2]}")
        [email] = await inbox.wait_for(1)
        await asyncio.sleep(2)
    assert len(inbox.messages) == 1, "one email, sent by one node"
    assert all(f"Reply {number}" in body(email) for number in range(4))


def test_a_subject_with_line_breaks_stays_one_header() -> None:
    mailer = SmtpMailer(parse_smtp_url("smtp://127.0.0.1:25"), MAIL_FROM)
    message = mailer.message(Email(to="ada@example.com", subject="A reply from Acme\r\nBcc: x@example.com", text="Hi"))
    assert message["Subject"] == "A reply from Acme Bcc: x@example.com" and message["Bcc"] is None
    assert message["Auto-Submitted"] == "auto-generated" and message["From"] == MAIL_FROM


async def test_an_agent_on_one_node_is_there_for_a_visitor_on_the_other(
    two_mail_nodes: tuple[RunningHub, RunningHub],
) -> None:
    one, two = two_mail_nodes
    tenant, other = await one.tenant(), await one.tenant()

    async def told(node: RunningHub, tenant_id: str) -> dict[str, Any]:
        async with visitor(node.ws, tenant_id) as guest:
            await guest.send({"type": "availability"})
            return (await guest.until(lambda f: f["type"] == "availability"))[-1]

    assert (await told(two, tenant.id))["agents_online"] is False
    async with agent_socket(one.ws, token=await agent_of(one, tenant.id)):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while not (await told(two, tenant.id))["agents_online"]:  # node one writes its agents within a flush
            assert loop.time() < deadline, "node two never heard of node one's agent"
            await asyncio.sleep(0.1)
        answer = await told(two, tenant.id)
        assert answer["email_offered"] is False, "someone is there: no address is asked for"
        assert (await told(two, other.id))["agents_online"] is False, "tenant B's visitors never count A's agents"
    deadline = asyncio.get_running_loop().time() + 5
    while (await told(two, tenant.id))["agents_online"]:
        assert asyncio.get_running_loop().time() < deadline, "the agent who left is still counted"
        await asyncio.sleep(0.1)
