"""Visitor context beside the conversation: the widget reports the page the visitor is on; agents on every
node hear it live and read it over HTTP; bad reports are refused with an error and never a 500; visits are
counted after 30 minutes without activity; another tenant's staff learn nothing of it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets

from hub.chat.identity import bound_session_id, visitor_id_from_token
from hub.mail import MemoryMailer
from hub.settings import Settings
from hub.store.database import open_engine
from hub.store.models import Tenant
from hub.store.tables import visitor_contexts
from hub.store.visits import Active, Browser, Context, PageView, Sighting, fold, read_contexts
from tests.accounts import create_tenant, create_widget_key
from tests.agents import agent_account, agent_socket, login
from tests.conftest import SECRET, RunningHub, Visitor, serve_hub, visitor
from tests.services import HubProcess, two_nodes

SHOP = "https://shop.example.com"


def context_of(session_id: str, test: Any = None) -> Any:
    """A predicate: the ``visitor_context`` frame of that session (that passes ``test``, when given)."""
    return lambda f: (
        f["type"] == "visitor_context" and f["session_id"] == session_id and (test is None or test(f["context"]))
    )


def urls(context: dict[str, Any]) -> list[str]:
    return [page["url"] for page in context["pages"]]


async def token_on(hub: RunningHub, tenant_id: str, name: str) -> str:
    email = await agent_account(hub.node.engine, tenant_id, name)
    return str((await login(hub.http, email))["token"])


async def token_at(node: HubProcess, postgres_url: str, tenant_id: str, name: str) -> str:
    engine = open_engine(postgres_url)
    try:
        email = await agent_account(engine, tenant_id, name)
    finally:
        await engine.dispose()
    return str((await login(node.http, email))["token"])


# ---- two nodes, one Redis, one PostgreSQL ---------------------------------------------------------------


@pytest.fixture(scope="module")
def nodes(redis_url: str, postgres_url: str) -> Iterator[tuple[HubProcess, HubProcess]]:
    env = {
        "HUB_SECRET_KEY": SECRET,
        "HUB_AI_PROVIDER": "none",
    }
    with two_nodes(redis_url, postgres_url, env) as pair:
        yield pair


async def test_the_page_a_visitor_is_on_reaches_an_agent_on_another_node_as_they_navigate(
    nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant, postgres_url: str
) -> None:
    node_a, node_b = nodes
    token = await token_at(node_b, postgres_url, pg_tenant.id, "Anna")
    async with (
        visitor(node_a.ws, pg_tenant.id) as guest,
        agent_socket(node_b.ws, token=token) as agent,
    ):
        session_id = guest.ready["session_id"]
        # What the widget sends on connect: before the first message nothing is stored, and nothing is lost.
        await guest.send(
            {
                "type": "page",
                "url": f"{SHOP}/bikes",
                "title": "Bikes · Acme",
                "language": "pl",
                "browser_language": "pl-PL",
                "time_zone": "Europe/Warsaw",
            }
        )
        await guest.say("Do you have city bikes?")
        first = (await agent.until(context_of(session_id)))[-1]["context"]
        assert first["page"]["url"] == f"{SHOP}/bikes" and first["page"]["title"] == "Bikes · Acme"
        assert urls(first) == [f"{SHOP}/bikes"] and first["visits"] == 1
        assert (first["language"], first["browser_language"], first["time_zone"]) == ("pl", "pl-PL", "Europe/Warsaw")
        assert first["first_seen"] and first["email"] is None

        # A single-page app moves on (history.pushState): the agent on the other node hears it.
        await guest.send({"type": "page", "url": f"{SHOP}/bikes/city-7#specs", "title": "City 7 · Acme"})
        moved = (await agent.until(context_of(session_id, lambda c: c["page"]["title"] == "City 7 · Acme")))[-1]
        assert urls(moved["context"]) == [f"{SHOP}/bikes", f"{SHOP}/bikes/city-7#specs"]
        assert moved["context"]["version"] > first["version"]

        # The staff HTTP API of either node says the same.
        for node in (node_a, node_b):
            async with httpx.AsyncClient(base_url=node.http, headers={"Authorization": f"Bearer {token}"}) as app:
                answer = await app.get(f"/api/chat/context/{session_id}")
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"session_id": session_id, "context": moved["context"]}


async def test_another_tenant_can_neither_read_nor_hear_nor_change_a_visitors_context(
    nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant, postgres_url: str
) -> None:
    node_a, node_b = nodes
    engine = open_engine(postgres_url)
    try:
        other = await create_tenant(engine, name="Other Shop", business_id=f"pg-other-{secrets.token_hex(6)}")
    finally:
        await engine.dispose()
    ours = await token_at(node_b, postgres_url, pg_tenant.id, "Anna")
    theirs = await token_at(node_b, postgres_url, other.id, "Mallory")
    async with (
        agent_socket(node_b.ws, token=theirs) as intruder,
        agent_socket(node_a.ws, token=ours) as colleague,
        visitor(node_a.ws, pg_tenant.id) as guest,
    ):
        session_id = guest.ready["session_id"]
        await guest.say("hello")
        await guest.send({"type": "page", "url": f"{SHOP}/secret-sale", "title": "Secret sale"})
        await colleague.until(context_of(session_id, lambda c: c["page"] is not None))

        async with httpx.AsyncClient(base_url=node_b.http, headers={"Authorization": f"Bearer {theirs}"}) as app:
            refused = await app.get(f"/api/chat/context/{session_id}")
            assert refused.status_code == 404 and refused.json()["error"]["code"] == "unknown_session"
            # Naming the other tenant is for platform admins only.
            named = await app.get(f"/api/chat/context/{session_id}", params={"business_id": pg_tenant.business_id})
            assert named.status_code == 403
        # The intruder's socket heard nothing of it (a ping's answer comes after anything queued before).
        await intruder.send({"type": "ping"})
        await intruder.until(lambda f: f["type"] == "pong")
        assert not [f for f in intruder.history if f["type"] == "visitor_context"]
        assert "secret-sale" not in str(intruder.history)

        # Nor can the other tenant's visitor socket report pages into it: the session does not open there.
        resume = f"session_id={session_id}&resume_token={guest.ready['resume_token']}"
        async with visitor(node_b.ws, other.id, query=resume, expect_ready=False) as stranger:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await stranger.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
        engine = open_engine(postgres_url)
        try:
            assert await read_contexts(engine, other.id, [session_id]) == {}
            assert set(await read_contexts(engine, pg_tenant.id, [session_id])) == {session_id}
        finally:
            await engine.dispose()


# ---- one node -------------------------------------------------------------------------------------------


class Clock:
    """The hub's clock, moved by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3))


@pytest.fixture
async def quiet_hub(settings: Settings, clock: Clock) -> Any:
    """No AI (its replies are beside the point), email kept in memory, the test's clock."""
    async with serve_hub(settings.with_overrides(ai_provider="none"), mailer=MemoryMailer(), clock=clock) as hub:
        yield hub


async def page(guest: Visitor, path: str, title: str | None = None) -> None:
    await guest.send({"type": "page", "url": f"{SHOP}{path}", **({"title": title} if title else {})})


async def test_a_new_visit_begins_after_30_minutes_without_activity(quiet_hub: RunningHub, clock: Clock) -> None:
    hub = quiet_hub
    tenant = await hub.tenant()
    token = await token_on(hub, tenant.id, "Anna")
    started = clock.at
    async with agent_socket(hub.ws, token=token) as agent:
        async with visitor(hub.ws, tenant.id) as guest:
            session_id = guest.ready["session_id"]
            resume = f"session_id={session_id}&resume_token={guest.ready['resume_token']}"
            await page(guest, "/", "Home")
            await guest.say("hi")
            await agent.until(context_of(session_id, lambda c: c["visits"] == 1))
            clock.advance(minutes=10)
            await guest.say("are you there?")  # activity, told (the last was 10 minutes ago)
            await agent.until(
                context_of(session_id, lambda c: c["last_seen"] == (started + timedelta(minutes=10)).isoformat())
            )
            clock.advance(minutes=2)
            await guest.send({"type": "typing", "active": True})  # activity, not told yet (2 minutes after the last)
            clock.advance(minutes=28)
            await page(guest, "/pricing", "Pricing")  # 28 minutes after the typing: the same visit
            same = (await agent.until(context_of(session_id, lambda c: c["page"]["url"].endswith("/pricing"))))[-1]
            assert same["context"]["visits"] == 1 and urls(same["context"]) == [f"{SHOP}/", f"{SHOP}/pricing"]

        clock.advance(minutes=35)  # gone for 35 minutes: the next page is a new visit
        async with visitor(hub.ws, tenant.id, query=resume) as guest:
            await page(guest, "/pricing?plan=pro", "Pricing")
            again = (await agent.until(context_of(session_id, lambda c: c["visits"] == 2)))[-1]["context"]
            assert urls(again) == [f"{SHOP}/pricing?plan=pro"], "the page history is the current visit's"
            assert again["first_seen"] == started.isoformat()
            assert again["visit_started"] == clock.at.isoformat()

            clock.advance(minutes=31)  # back at the same tab after half an hour: a message begins visit 3
            await guest.say("still there?")
            third = (await agent.until(context_of(session_id, lambda c: c["visits"] == 3)))[-1]["context"]
            assert third["page"]["url"] == f"{SHOP}/pricing?plan=pro" and urls(third) == [f"{SHOP}/pricing?plan=pro"]

            # Reloading the same page is activity, not another page of the visit.
            clock.advance(minutes=1)
            await page(guest, "/pricing?plan=pro", "Pricing · Pro")
            reloaded = (await agent.until(context_of(session_id, lambda c: c["page"]["title"] == "Pricing · Pro")))[-1]
            assert reloaded["context"]["visits"] == 3 and len(reloaded["context"]["pages"]) == 1

            # An email left shows beside the conversation (the email continuity feature's address).
            await guest.send({"type": "email", "address": "ada@example.com"})
            await agent.until(context_of(session_id, lambda c: c["email"] == "ada@example.com"))


async def test_a_visitor_who_never_writes_leaves_no_context_behind(quiet_hub: RunningHub) -> None:
    hub = quiet_hub
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as guest:
        await page(guest, "/", "Home")
        await guest.send({"type": "ping"})
        await guest.until(lambda f: f["type"] == "pong")
        session_id = guest.ready["session_id"]
    assert await hub.node.visits.context(tenant.id, session_id) is None  # no such session, no context row
    await hub.node.visits.flush()
    async with hub.node.engine.connect() as connection:
        assert (await connection.execute(visitor_contexts.select())).all() == []


BAD_PAGES = [
    ({"url": "javascript:alert(1)"}, "invalid_url"),
    ({"url": "data:text/html,<script>alert(1)</script>"}, "invalid_url"),
    ({"url": "ftp://shop.example.com/file"}, "invalid_url"),
    ({"url": "/relative/path"}, "invalid_url"),
    ({"url": "https://"}, "invalid_url"),
    ({"url": "https://shop.example.com/a b"}, "invalid_url"),
    ({"url": "https://shop.example.com:99999/"}, "invalid_url"),
    ({"url": f"{SHOP}/{'x' * 2048}"}, "invalid_url"),
    ({"url": "https://elsewhere.example.org/"}, "invalid_url"),  # not the socket's origin
    ({"url": ""}, "invalid_frame"),
    ({"url": 42}, "invalid_frame"),
    ({"url": None}, "invalid_frame"),
    ({}, "invalid_frame"),
    ({"url": f"{SHOP}/", "title": "t" * 301}, "invalid_frame"),
    ({"url": f"{SHOP}/", "title": ["a"]}, "invalid_frame"),
    ({"url": f"{SHOP}/", "language": "en US"}, "invalid_frame"),
    ({"url": f"{SHOP}/", "browser_language": "<b>pl</b>"}, "invalid_frame"),
    ({"url": f"{SHOP}/", "time_zone": "../../etc/passwd x"}, "invalid_frame"),
    ({"url": f"{SHOP}/", "time_zone": 3}, "invalid_frame"),
]


@pytest.mark.parametrize(("fields", "code"), BAD_PAGES, ids=[str(i) for i in range(len(BAD_PAGES))])
async def test_a_bad_page_frame_gets_an_error_frame_and_the_socket_stays_usable(
    hub: RunningHub, fields: dict[str, Any], code: str
) -> None:
    tenant = await hub.tenant(origins=(SHOP,))
    async with visitor(hub.ws, tenant.id, origin=SHOP) as guest:
        await guest.send({"type": "page", **fields})
        refused = await guest.recv()
        assert refused["type"] == "error" and refused["code"] == code, refused
        await page(guest, "/fine", "Fine")  # a good one after it is taken
        await guest.send({"type": "ping"})
        assert (await guest.recv())["type"] == "pong"


async def test_a_page_title_is_kept_on_one_line_and_credentials_in_a_url_are_dropped(quiet_hub: RunningHub) -> None:
    hub = quiet_hub
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as guest:
        await guest.send(
            {"type": "page", "url": "HTTPS://ada:pw@shop.example.com/a?b=1", "title": " Sale\n\t 50%\x00 "}
        )
        await guest.say("hi")
        await guest.send({"type": "ping"})
        await guest.until(lambda f: f["type"] == "pong")
        session_id = guest.ready["session_id"]
    await hub.node.visits.flush()
    context = await hub.node.visits.context(tenant.id, session_id)
    assert context is not None and context.page is not None
    assert (context.page.url, context.page.title) == ("https://shop.example.com/a?b=1", "Sale 50%")


async def test_the_http_chat_paths_tell_the_page_from_their_body_or_the_referer(quiet_hub: RunningHub) -> None:
    hub = quiet_hub
    tenant = await hub.tenant(origins=(SHOP,))
    key = (await create_widget_key(hub.node.engine, tenant.id, origins=[SHOP])).key
    token = await token_on(hub, tenant.id, "Anna")
    headers = {"Origin": SHOP, "X-Widget-Key": key, "Accept-Language": "pl-PL,pl;q=0.9,en;q=0.5"}
    async with httpx.AsyncClient(base_url=hub.http) as client:
        body = {"session_id": "w_abc", "message": "hi", "language": "pl", "time_zone": "Europe/Warsaw"}
        page_body = {"url": f"{SHOP}/cart", "title": "Cart"}
        answer = await client.post("/api/widget/chat", json={**body, "page": page_body}, headers=headers)
        assert answer.status_code == 200, answer.text
        visitor_token = answer.json()["visitor_token"]
        with_token = {**headers, "X-Visitor-Token": visitor_token, "Referer": f"{SHOP}/checkout"}
        answer = await client.post("/api/widget/chat", json={**body, "message": "and now?"}, headers=with_token)
        assert answer.status_code == 200, answer.text

        for bad in ({"url": "javascript:alert(1)"}, {"url": "https://evil.example/"}):
            refused = await client.post("/api/widget/chat", json={**body, "page": bad}, headers=with_token)
            assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_url", refused.text
        for bad in ({"url": 7}, {"url": f"{SHOP}/", "title": "t" * 301}, "https://shop.example.com/"):
            refused = await client.post("/api/widget/chat", json={**body, "page": bad}, headers=with_token)
            assert refused.status_code == 400, refused.text
        await hub.node.visits.flush()

    visitor_id = visitor_id_from_token(SECRET, visitor_token)
    assert visitor_id is not None
    session_id = bound_session_id(SECRET, tenant.id, visitor_id, "w_abc")
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as app:
        context = (await app.get(f"/api/chat/context/{session_id}")).json()["context"]
    assert urls(context) == [f"{SHOP}/cart", f"{SHOP}/checkout"]
    assert (context["language"], context["browser_language"], context["time_zone"]) == ("pl", "pl-PL", "Europe/Warsaw")


async def test_the_context_of_a_session_with_nothing_reported_is_empty_and_an_unknown_one_is_404(
    quiet_hub: RunningHub,
) -> None:
    hub = quiet_hub
    tenant = await hub.tenant()
    token = await token_on(hub, tenant.id, "Anna")
    async with visitor(hub.ws, tenant.id) as guest:
        await guest.say("hi")
        session_id = guest.ready["session_id"]
        await guest.until(lambda f: f["type"] == "message")
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as app:
        empty = (await app.get(f"/api/chat/context/{session_id}")).json()["context"]
        assert empty == {
            "first_seen": None,
            "last_seen": None,
            "visits": 0,
            "visit_started": None,
            "page": None,
            "pages": [],
            "language": None,
            "browser_language": None,
            "time_zone": None,
            "email": None,
            "version": 0,
        }
        missing = await app.get("/api/chat/context/s_nobody_here_at_all")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_session"
        assert (await app.get(f"/api/chat/context/{'x' * 65}")).status_code == 400
    async with httpx.AsyncClient(base_url=hub.http) as anonymous:
        assert (await anonymous.get(f"/api/chat/context/{session_id}")).status_code == 401


def test_events_from_several_nodes_count_the_same_visits_in_whatever_order_they_are_written() -> None:
    start = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    def at(minutes: float) -> datetime:
        return start + timedelta(minutes=minutes)

    home, bikes, cart = (
        PageView(f"{SHOP}{path}", path, at(m)) for path, m in (("/", 0), ("/bikes", 25), ("/cart", 90))
    )
    tab_a = Sighting([home, Active(at(20))], Browser("pl", "pl-PL", "Europe/Warsaw"))
    tab_b = Sighting([bikes, Active(at(40))], Browser(time_zone="Europe/Berlin"))
    later = Sighting([cart])
    empty = Context("t", "s")
    in_order = fold(fold(fold(empty, tab_a), tab_b), later)
    shuffled = fold(fold(fold(empty, tab_b), tab_a), later)
    for context in (in_order, shuffled):
        assert context.visits == 2 and context.visit_started == at(90)
        assert context.page == cart and context.pages == (cart,)
        assert context.first_seen == at(0) and context.last_seen == at(90)
    assert fold(fold(empty, tab_a), tab_b).pages == (home, bikes)
    assert fold(fold(empty, tab_b), tab_a).pages == (home, bikes), "an older page is put in its place"
    assert fold(fold(empty, tab_b), tab_a).page == bikes, "an older page does not replace the newer one"
    assert fold(fold(empty, tab_b), tab_a).visit_started == at(0)
    late = fold(in_order, Sighting([PageView(f"{SHOP}/old", "old", at(30))]))
    assert late.pages == (cart,) and late.visits == 2, "a page of the visit before, written late, stays out"
    assert in_order.browser == Browser("pl", "pl-PL", "Europe/Berlin")
    assert in_order.version == 3
