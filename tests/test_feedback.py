"""Visitors rate the AI's replies and their conversations: over the socket, over the widget's HTTP path,
on one node or two, stored with the reply's persona and sources, sent as webhooks, counted in Analytics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from hub.chat.control import Agent
from hub.chat.identity import bound_session_id, visitor_id_from_token
from hub.settings import Settings
from hub.store import knowledge as knowledge_store
from hub.store.analytics import conversation_metrics
from hub.store.database import open_engine
from hub.store.models import Tenant
from hub.store.tables import message_ratings, messages, session_ratings, webhook_deliveries
from hub.store.webhooks import create_endpoint
from tests.accounts import create_widget_key
from tests.agents import agent_account, agent_socket, login
from tests.conftest import RunningHub, Visitor, serve_hub, visitor
from tests.test_multinode import join_query, nodes  # noqa: F401  (the two-node fixture)

SHOP = "https://shop.example.com"
ANN = Agent("agent-ann", "Ann")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    if request.param == "postgresql":
        return settings.with_overrides(database_url=request.getfixturevalue("postgres_url"))
    return settings


@pytest.fixture
async def any_hub(store_settings: Settings) -> AsyncIterator[RunningHub]:
    async with serve_hub(store_settings) as running:
        yield running


async def knowing_tenant(hub: RunningHub) -> Tenant:
    """A tenant whose AI answers about e-bikes from a knowledge entry (so its replies have sources)."""
    tenant = await hub.tenant(origins=(SHOP,))
    async with hub.node.engine.begin() as connection:
        entry = {"title": "Electric bikes", "body": "Yes, we repair e-bikes.", "language": "en", "enabled": True}
        await knowledge_store.insert_entries(connection, tenant.id, [{**entry, "url": f"{SHOP}/ebikes"}])
    hub.node.knowledge.changed(tenant.id)
    return tenant


async def ask(client: Visitor, text: str = "Do you repair e-bikes?") -> dict[str, Any]:
    await client.say(text)
    return (await client.ai_reply())[-1]


async def rating_rows(hub: RunningHub, tenant_id: str) -> list[Any]:
    async with hub.node.engine.connect() as connection:
        query = select(message_ratings).where(message_ratings.c.tenant_id == tenant_id)
        return list(await connection.execute(query))


async def deliveries(hub: RunningHub, tenant_id: str, event: str) -> list[dict[str, Any]]:
    async with hub.node.engine.connect() as connection:
        query = (
            select(webhook_deliveries.c.payload)
            .where(webhook_deliveries.c.tenant_id == tenant_id, webhook_deliveries.c.event_type == event)
            .order_by(webhook_deliveries.c.created_at)
        )
        return [orjson.loads(row.payload) for row in await connection.execute(query)]


async def test_visitor_who_rates_a_reply_gets_it_stored_with_its_sources_and_a_second_rating_replaces_it(
    any_hub: RunningHub,
) -> None:
    tenant = await knowing_tenant(any_hub)
    await create_endpoint(any_hub.node.engine, tenant.id, f"{SHOP}/hook", ["message.rated"], "")
    async with visitor(any_hub.ws, tenant.id) as client:
        reply = await ask(client)
        assert reply["sources"] == [{"title": "Electric bikes", "url": f"{SHOP}/ebikes"}]
        await client.send({"type": "rate", "message_id": reply["id"], "helpful": False})
        assert (await client.until(lambda f: f["type"] in ("rated", "error")))[-1] == {
            "type": "rated",
            "message_id": reply["id"],
            "helpful": False,
        }
        await client.send({"type": "rate", "message_id": reply["id"], "helpful": True})
        await client.until(lambda f: f["type"] == "rated")
    [row] = await rating_rows(any_hub, tenant.id)
    assert (row.message_id, row.helpful, row.persona, row.sources) == (reply["id"], True, "Bob", ["Electric bikes"])
    sent = await deliveries(any_hub, tenant.id, "message.rated")
    assert [event["data"]["helpful"] for event in sent] == [False, True], "one event per rating, in order"
    assert sent[0]["data"] == {
        "session_id": client.ready["session_id"],
        "message_id": reply["id"],
        "helpful": False,
        "persona": "Bob",
        "sources": ["Electric bikes"],
    }


async def test_a_visitor_cannot_rate_another_conversations_reply_nor_a_message_that_is_not_the_ais(
    hub: RunningHub,
) -> None:
    tenant = await knowing_tenant(hub)
    other_tenant = await knowing_tenant(hub)
    async with visitor(hub.ws, tenant.id) as ada, visitor(hub.ws, tenant.id) as bea:
        reply = await ask(ada)
        await bea.say("hello")
        await bea.ai_reply()
        await bea.send({"type": "rate", "message_id": reply["id"], "helpful": False})
        error = (await bea.until(lambda f: f["type"] in ("rated", "error")))[-1]
        assert (error["type"], error["code"]) == ("error", "unknown_message")
        await ada.send({"type": "rate", "message_id": "no-such-message", "helpful": True})
        assert (await ada.until(lambda f: f["type"] in ("rated", "error")))[-1]["code"] == "unknown_message"
        await ada.send({"type": "rate", "message_id": "x" * 65, "helpful": True})
        assert (await ada.until(lambda f: f["type"] == "error"))[-1]["code"] == "invalid_frame"
    async with visitor(hub.ws, other_tenant.id) as mallory:
        # The same session id and message id under another tenant: nothing of tenant A is found.
        await mallory.send({"type": "rate", "message_id": reply["id"], "helpful": False})
        assert (await mallory.until(lambda f: f["type"] == "error"))[-1]["code"] == "unknown_message"
        await mallory.send({"type": "rate_session", "stars": 1})
        assert (await mallory.until(lambda f: f["type"] == "error"))[-1]["code"] == "unknown_session"
    assert [row.helpful for row in await rating_rows(hub, tenant.id)] == []
    assert await rating_rows(hub, other_tenant.id) == []


async def test_a_closed_conversation_is_rated_once_with_stars_and_a_comment_a_later_rating_replacing_it(
    any_hub: RunningHub,
) -> None:
    tenant = await knowing_tenant(any_hub)
    await create_endpoint(any_hub.node.engine, tenant.id, f"{SHOP}/hook", ["session.rated"], "")
    async with visitor(any_hub.ws, tenant.id) as client:
        await ask(client)
        session_id = client.ready["session_id"]
        await any_hub.node.control.close(tenant, session_id, ANN, force=True)
        closed = (await client.until(lambda f: f["type"] == "message" and f.get("event") == "close"))[-1]
        assert closed["role"] == "system"
        await client.send({"type": "rate_session", "stars": 6})
        assert (await client.until(lambda f: f["type"] == "error"))[-1]["code"] == "invalid_frame"
        await client.send({"type": "rate_session", "stars": 2, "comment": "x" * 1001})
        assert (await client.until(lambda f: f["type"] == "error"))[-1]["code"] == "invalid_frame"
        await client.send({"type": "rate_session", "stars": 2, "comment": "  Slow.  "})
        assert (await client.until(lambda f: f["type"] == "session_rated"))[-1] == {
            "type": "session_rated",
            "stars": 2,
            "comment": "Slow.",
        }
        await client.send({"type": "rate_session", "stars": 5, "comment": "x" * 1000})
        await client.until(lambda f: f["type"] == "session_rated")
    async with any_hub.node.engine.connect() as connection:
        rows = list(await connection.execute(select(session_ratings).where(session_ratings.c.tenant_id == tenant.id)))
    assert [(row.session_id, row.stars, len(row.comment)) for row in rows] == [(session_id, 5, 1000)]
    sent = await deliveries(any_hub, tenant.id, "session.rated")
    assert [(e["data"]["stars"], e["data"]["comment"][:5]) for e in sent] == [(2, "Slow."), (5, "xxxxx")]


async def test_a_rating_on_node_b_of_a_reply_streamed_on_node_a_is_stored(
    nodes: tuple[Any, Any],  # noqa: F811
    pg_tenant: Tenant,
    postgres_url: str,
) -> None:
    node_a, node_b = nodes
    async with visitor(node_a.ws, pg_tenant.id) as on_a:
        reply = await ask(on_a, "Hello from node A")
        async with visitor(node_b.ws, pg_tenant.id, query=join_query(on_a, reply["seq"])) as on_b:
            await on_b.send({"type": "rate", "message_id": reply["id"], "helpful": False})
            assert (await on_b.until(lambda f: f["type"] in ("rated", "error")))[-1]["type"] == "rated"
    engine = open_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            query = select(message_ratings).where(message_ratings.c.tenant_id == pg_tenant.id)
            [row] = list(await connection.execute(query))
    finally:
        await engine.dispose()
    assert (row.message_id, row.session_id, row.helpful) == (reply["id"], on_a.ready["session_id"], False)


async def staff_token(hub: RunningHub | Any, engine: Any, tenant_id: str, name: str) -> str:
    return str((await login(hub.http, await agent_account(engine, tenant_id, name)))["token"])


async def test_mission_control_sees_a_replys_sources_and_the_visitors_ratings_so_far_then_live(
    any_hub: RunningHub,
) -> None:
    tenant = await knowing_tenant(any_hub)
    stranger = await any_hub.tenant()
    anna = await staff_token(any_hub, any_hub.node.engine, tenant.id, "Anna")
    eve = await staff_token(any_hub, any_hub.node.engine, stranger.id, "Eve")
    async with visitor(any_hub.ws, tenant.id) as client, agent_socket(any_hub.ws, token=eve) as other_tenants_agent:
        reply = await ask(client)
        await client.send({"type": "rate", "message_id": reply["id"], "helpful": False})
        await client.until(lambda f: f["type"] == "rated")
        session_id = client.ready["session_id"]
        async with agent_socket(any_hub.ws, token=anna) as agent:
            replay = await agent.watch(session_id)
            # The messages first, the reply with its sources; then the ratings stored so far.
            shown = [f for f in replay if f["type"] == "message" and f["role"] == "ai"]
            assert shown[-1]["sources"] == [{"title": "Electric bikes", "url": f"{SHOP}/ebikes"}]
            unhelpful = {"session_id": session_id, "type": "rated", "message_id": reply["id"], "helpful": False}
            assert replay[-1] == unhelpful
            # A new rating arrives while Anna watches; the visitor's socket is answered once.
            await client.send({"type": "rate", "message_id": reply["id"], "helpful": True})
            answers = await client.until(lambda f: f["type"] == "rated")
            live = (await agent.until(lambda f: f["type"] == "rated"))[-1]
            assert live == {"session_id": session_id, "type": "rated", "message_id": reply["id"], "helpful": True}
            await any_hub.node.control.close(tenant, session_id, ANN, force=True)
            await client.until(lambda f: f["type"] == "message" and f.get("event") == "close")
            await client.send({"type": "rate_session", "stars": 4, "comment": " Quick and clear. "})
            await client.until(lambda f: f["type"] == "session_rated")
            stars = (await agent.until(lambda f: f["type"] == "session_rated"))[-1]
            said = {"session_id": session_id, "type": "session_rated", "stars": 4, "comment": "Quick and clear."}
            assert stars == said
            with pytest.raises(TimeoutError):
                extra = await client.until(lambda f: f["type"] in ("rated", "session_rated"), timeout=0.5)
                pytest.fail(f"the visitor was answered twice: {answers} then {extra}")
        # Watching again later: both ratings as they now stand.
        async with agent_socket(any_hub.ws, token=anna) as agent:
            replay = await agent.watch(session_id)
            assert [f for f in replay if f["type"] in ("rated", "session_rated")] == [
                {"session_id": session_id, "type": "rated", "message_id": reply["id"], "helpful": True},
                said,
            ]
        # Another tenant's agent heard none of it, and cannot watch the conversation to read it.
        assert not [f for f in other_tenants_agent.history if f.get("session_id") == session_id]
        refused = await other_tenants_agent.command({"type": "watch", "session_id": session_id})
        assert refused["code"] == "unknown_session"
        assert not [f for f in other_tenants_agent.history if f["type"] in ("rated", "session_rated")]


async def test_a_rating_given_on_node_a_reaches_mission_control_watching_on_node_b(
    nodes: tuple[Any, Any],  # noqa: F811
    pg_tenant: Tenant,
    postgres_url: str,
) -> None:
    node_a, node_b = nodes
    engine = open_engine(postgres_url)
    try:
        anna = await staff_token(node_b, engine, pg_tenant.id, "Anna")
    finally:
        await engine.dispose()
    async with visitor(node_a.ws, pg_tenant.id) as client, agent_socket(node_b.ws, token=anna) as agent:
        reply = await ask(client, "Hello from node A")
        session_id = client.ready["session_id"]
        await agent.watch(session_id)
        await client.send({"type": "rate", "message_id": reply["id"], "helpful": False})
        live = (await agent.until(lambda f: f["type"] == "rated"))[-1]
        assert live == {"session_id": session_id, "type": "rated", "message_id": reply["id"], "helpful": False}


async def widget_turn(client: httpx.AsyncClient, key: str, token: str | None = None) -> dict[str, Any]:
    headers = {"X-Widget-Key": key, "Origin": SHOP, **({"X-Visitor-Token": token} if token else {})}
    response = await client.post(
        "/api/widget/chat", json={"session_id": "w_1", "message": "Do you repair e-bikes?"}, headers=headers
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_the_widgets_http_path_rates_replies_of_its_own_conversation_only(hub: RunningHub) -> None:
    tenant = await knowing_tenant(hub)
    key = (await create_widget_key(hub.node.engine, tenant.id, [SHOP])).key
    secret = hub.node.settings.secret_key
    async with httpx.AsyncClient(base_url=hub.http, timeout=30) as client:
        ada = (await widget_turn(client, key))["visitor_token"]
        bea = (await widget_turn(client, key))["visitor_token"]
        ada_session = bound_session_id(secret, tenant.id, str(visitor_id_from_token(secret, ada)), "w_1")
        async with hub.node.engine.connect() as connection:
            query = select(messages.c.id).where(
                messages.c.tenant_id == tenant.id, messages.c.session_id == ada_session, messages.c.role == "ai"
            )
            reply_id = (await connection.execute(query)).scalar_one()

        def rate(token: str | None, body: dict[str, Any], origin: str = SHOP) -> Any:
            headers = {"X-Widget-Key": key, "Origin": origin, **({"X-Visitor-Token": token} if token else {})}
            return client.post("/api/widget/rating", json=body, headers=headers)

        body = {"session_id": "w_1", "message_id": reply_id, "helpful": False}
        answer = await rate(ada, body)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"message_id": reply_id, "helpful": False}
        assert answer.headers["access-control-allow-origin"] == SHOP
        refused = await rate(bea, body)  # the same name, another visitor: another conversation
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "unknown_message"
        assert refused.headers["access-control-allow-origin"] == SHOP
        assert (await rate(None, body)).json()["error"]["code"] == "unknown_session"
        assert (await rate(ada, {**body, "helpful": "yes"})).status_code == 400
        assert (await rate(ada, body, origin="https://evil.example.com")).status_code == 403
        anna = await staff_token(hub, hub.node.engine, tenant.id, "Anna")
        async with agent_socket(hub.ws, token=anna) as agent:
            await agent.watch(ada_session)
            assert (await rate(ada, {**body, "helpful": True})).status_code == 200
            # Mission Control watching the conversation sees a rating given over HTTP as it is given.
            live = (await agent.until(lambda f: f["type"] == "rated"))[-1]
            assert (live["session_id"], live["message_id"], live["helpful"]) == (ada_session, reply_id, True)
            [row] = await rating_rows(hub, tenant.id)
            assert row.helpful is True

            stars = {"X-Widget-Key": key, "Origin": SHOP, "X-Visitor-Token": ada}
            answer = await client.post(
                "/api/widget/session-rating", json={"session_id": "w_1", "stars": 4}, headers=stars
            )
            assert answer.status_code == 200 and answer.json() == {"stars": 4}
            live = (await agent.until(lambda f: f["type"] == "session_rated"))[-1]
            assert live == {"session_id": ada_session, "type": "session_rated", "stars": 4}
        unknown = await client.post(
            "/api/widget/session-rating", json={"session_id": "never-used", "stars": 4}, headers=stars
        )
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_session"
        preflight = await client.options(
            "/api/widget/rating", headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"}
        )
        assert preflight.status_code == 204


async def rate_directly(hub: RunningHub, tenant: Tenant, helpful: list[bool], stars: list[int]) -> None:
    """Each rating through the service, each on a reply of its own conversation."""
    for verdict in helpful:
        async with visitor(hub.ws, tenant.id) as client:
            reply = await ask(client)
            await hub.node.feedback.rate_reply(tenant.id, client.ready["session_id"], reply["id"], verdict)
            if stars:
                await hub.node.feedback.rate_session(tenant.id, client.ready["session_id"], stars.pop(), None)


async def test_analytics_count_a_tenants_ratings_per_persona_and_entry_and_never_another_tenants(
    any_hub: RunningHub,
) -> None:
    tenant = await knowing_tenant(any_hub)
    other = await knowing_tenant(any_hub)
    await rate_directly(any_hub, tenant, [False, False, True], [5, 2])
    await rate_directly(any_hub, other, [True, True], [1, 1])
    feedback = (await conversation_metrics(any_hub.node.engine, [tenant.id], 30))["feedback"]
    assert feedback == {
        "rated_replies": 3,
        "helpful_share": round(1 / 3, 4),
        "personas": [{"persona": "Bob", "rated": 3, "helpful": 1, "helpful_share": round(1 / 3, 4)}],
        "unhelpful_sources": [{"title": "Electric bikes", "unhelpful": 2}],
        "session_ratings": 2,
        "average_session_rating": 3.5,
    }
    owner = await agent_account(any_hub.node.engine, tenant.id, "Olga", "owner")
    token = (await login(any_hub.http, owner))["token"]
    async with httpx.AsyncClient(base_url=any_hub.http, headers={"Authorization": f"Bearer {token}"}) as client:
        served = (await client.get("/api/metrics/business")).json()["feedback"]
    assert served == feedback
    everyone = (await conversation_metrics(any_hub.node.engine, None, 30))["feedback"]
    assert everyone["rated_replies"] >= 5
