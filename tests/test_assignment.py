"""Conversations for a team: a conversation is assigned to a named staff member, reassigned, transferred with a
note only staff ever read, taken by whoever takes it over, and (with the tenant's round-robin on) given to
whose turn it is among the staff online. Over HTTP and the agent socket alike; bad input is refused with a
code, and another tenant can neither see nor change any of it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from hub.settings import Settings
from hub.store.models import PLATFORM_BUSINESS_ID
from hub.store.tables import users, webhook_deliveries
from hub.store.webhooks import EVENTS, create_endpoint
from tests.accounts import create_tenant, create_user
from tests.agents import PASSWORD, agent_account, agent_socket, login
from tests.conftest import RunningHub, Visitor, two_hubs, visitor


@dataclass
class Staff:
    """A staff member of a tenant: their id, token and an HTTP client logged in as them."""

    id: str
    name: str
    token: str
    http: httpx.AsyncClient


@pytest.fixture
async def team(hub: RunningHub) -> AsyncIterator[Any]:
    """``await team(tenant_id, name, role)`` makes a staff member; their clients are closed afterwards."""
    made: list[Staff] = []

    async def make(tenant_id: str, name: str, role: str = "agent") -> Staff:
        answer = await login(hub.http, await agent_account(hub.node.engine, tenant_id, name, role))
        token = str(answer["token"])
        client = httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"})
        made.append(Staff(answer["user"]["id"], name, token, client))
        return made[-1]

    yield make
    for member in made:
        await member.http.aclose()


@pytest.fixture
async def talk(hub: RunningHub) -> AsyncIterator[Any]:
    """``await talk(tenant_id)``: a visitor who wrote once, and its session id; the socket closes after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(tenant_id: str, text: str = "hello") -> tuple[Visitor, str]:
            client = await stack.enter_async_context(visitor(hub.ws, tenant_id))
            await client.say(text)
            await client.until(lambda f: f["type"] == "message" and f["role"] == "visitor")
            return client, client.ready["session_id"]

        yield start


def patch_of(session_id: str, field: str) -> Any:
    return lambda f: f["type"] == "session" and f["session"]["id"] == session_id and field in f["session"]


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_an_agent_assigns_reassigns_and_unassigns_and_every_dashboard_and_the_api_see_it(
    hub: RunningHub, team: Any
) -> None:
    tenant = await hub.tenant()
    anna, ben = await team(tenant.id, "Anna"), await team(tenant.id, "Ben")
    async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=anna.token) as desk:
        await client.say("Where is my parcel?")
        session_id = client.ready["session_id"]
        await desk.seen(lambda f: f["type"] == "session" and f["session"].get("seq") == 1)

        assigned = await ben.http.put(f"/api/chat/sessions/{session_id}/assignee", json={"agent_id": ben.id})
        assert assigned.status_code == 200, assigned.text
        assert assigned.json()["assignee"] == {"id": ben.id, "name": "Ben"} and assigned.json()["transfer"] is None
        patch = await desk.seen(patch_of(session_id, "assignee"))
        assert patch["session"]["assignee"] == {"id": ben.id, "name": "Ben"}

        mine = (await ben.http.get("/api/chat/sessions", params={"view": "mine"})).json()["sessions"]
        assert [row["id"] for row in mine] == [session_id]
        assert (await anna.http.get("/api/chat/sessions", params={"view": "mine"})).json()["sessions"] == []
        assert (await anna.http.get("/api/chat/sessions", params={"view": "unassigned"})).json()["sessions"] == []
        by_ben = (await anna.http.get("/api/chat/sessions", params={"agent_id": ben.id})).json()["sessions"]
        assert [row["id"] for row in by_ben] == [session_id]

        answer = await desk.command({"type": "assign", "session_id": session_id, "agent_id": anna.id})
        assert answer["type"] == "ok" and answer["action"] == "assign", answer
        patch = await desk.seen(
            lambda f: patch_of(session_id, "assignee")(f) and f["session"]["assignee"]["id"] == anna.id
        )
        assert patch["session"]["assignee"]["name"] == "Anna"
        row = (await ben.http.get(f"/api/chat/sessions/{session_id}")).json()
        assert row["assignee"] == {"id": anna.id, "name": "Anna"}

        answer = await desk.command({"type": "assign", "session_id": session_id, "agent_id": None})
        assert answer["type"] == "ok", answer
        await desk.seen(lambda f: patch_of(session_id, "assignee")(f) and f["session"]["assignee"] is None)
        unassigned = (await ben.http.get("/api/chat/sessions", params={"view": "unassigned"})).json()["sessions"]
        assert [row["id"] for row in unassigned] == [session_id]

    async with agent_socket(hub.ws, token=ben.token) as later:  # the snapshot says the same
        [row] = later.sessions
        assert row["assignee"] is None and row["labels"] == [] and row["transfer"] is None


async def test_taking_over_an_unassigned_conversation_assigns_it_to_the_taker_and_an_assigned_one_keeps_its_assignee(
    hub: RunningHub, team: Any, talk: Any
) -> None:
    tenant = await hub.tenant()
    anna, ben = await team(tenant.id, "Anna"), await team(tenant.id, "Ben")
    _first, first_id = await talk(tenant.id)
    _second, second_id = await talk(tenant.id)
    async with agent_socket(hub.ws, token=anna.token) as desk:
        assert (await desk.command({"type": "takeover", "session_id": first_id}))["type"] == "ok"
        patch = await desk.seen(patch_of(first_id, "assignee"))
        assert patch["session"]["assignee"] == {"id": anna.id, "name": "Anna"}
        assert patch["session"]["owner"] == {"id": anna.id, "name": "Anna"}

        await ben.http.put(f"/api/chat/sessions/{second_id}/assignee", json={"agent_id": ben.id})
        assert (await desk.command({"type": "takeover", "session_id": second_id}))["type"] == "ok"
        row = (await anna.http.get(f"/api/chat/sessions/{second_id}")).json()
        assert row["owner"]["id"] == anna.id and row["assignee"] == {"id": ben.id, "name": "Ben"}


async def test_a_platform_admin_taking_over_in_another_tenant_is_not_assigned_there(
    hub: RunningHub, team: Any, talk: Any
) -> None:
    platform = await create_tenant(hub.node.engine, name="Office16852", business_id=PLATFORM_BUSINESS_ID)
    admin, shop = await team(platform.id, "Sam", "admin"), await hub.tenant()
    anna = await team(shop.id, "Anna")
    _, session_id = await talk(shop.id)
    async with agent_socket(hub.ws, token=admin.token, query=f"business_id={shop.business_id}") as visiting:
        assert (await visiting.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
        assert (await anna.http.get(f"/api/chat/sessions/{session_id}")).json()["assignee"] is None
        answer = await visiting.command({"type": "assign", "session_id": session_id, "agent_id": admin.id})
        assert answer["code"] == "unknown_agent", "a platform admin is no staff member of the shop"
        assert (await visiting.command({"type": "assign", "session_id": session_id, "agent_id": anna.id}))[
            "type"
        ] == "ok"
    row = (await anna.http.get(f"/api/chat/sessions/{session_id}")).json()
    assert row["owner"]["id"] == admin.id and row["assignee"] == {"id": anna.id, "name": "Anna"}


async def test_a_transfer_hands_the_conversation_over_with_a_note_that_only_staff_ever_read(
    hub: RunningHub, team: Any
) -> None:
    tenant = await hub.tenant()
    await create_endpoint(hub.node.engine, tenant.id, "https://hooks.example.com/h", list(EVENTS), "")
    anna, ben = await team(tenant.id, "Anna"), await team(tenant.id, "Ben")
    note = "Wants a refund for order 4411; card ends 0042 - please check the warehouse first"
    async with (
        visitor(hub.ws, tenant.id) as client,
        agent_socket(hub.ws, token=anna.token) as anna_desk,
        agent_socket(hub.ws, token=ben.token) as ben_desk,
    ):
        await client.say("I want my money back")
        session_id = client.ready["session_id"]
        await anna_desk.seen(lambda f: f["type"] == "session" and f["session"].get("seq") == 1)
        assert (await anna_desk.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
        await client.until(lambda f: f["type"] == "message" and f["text"] == "Anna joined the chat")

        answer = await anna_desk.command(
            {"type": "transfer", "session_id": session_id, "agent_id": ben.id, "note": f"  {note}  "}
        )
        assert answer["type"] == "ok" and answer["action"] == "transfer", answer
        patch = (await ben_desk.seen(lambda f: patch_of(session_id, "transfer")(f) and f["session"]["transfer"]))[
            "session"
        ]
        assert patch["assignee"] == {"id": ben.id, "name": "Ben"}
        assert patch["transfer"]["by"] == {"id": anna.id, "name": "Anna"} and patch["transfer"]["note"] == note
        assert patch["owner"] is None, "Anna let go of it: the AI stays quiet until Ben takes it over"

        row = (await ben.http.get(f"/api/chat/sessions/{session_id}")).json()
        assert row["mode"] == "human" and row["owner"] is None and row["transfer"]["note"] == note
        refused = await anna_desk.command(
            {"type": "transfer", "session_id": session_id, "agent_id": ben.id, "note": "x"}
        )
        assert refused["code"] == "already_assigned", refused

        # Ben takes it over without force (Anna's claim was released), and the visitor hears of Ben only.
        assert (await ben_desk.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
        frames = await client.until(lambda f: f["type"] == "message" and f["text"] == "Ben joined the chat")
        await client.say("hello?")
        frames += await client.until(lambda f: f["type"] == "message" and f["role"] == "visitor")
        assert note not in json.dumps(frames) and "refund" not in json.dumps(frames).lower()
        row = (await ben.http.get(f"/api/chat/sessions/{session_id}")).json()
        assert row["owner"]["id"] == ben.id and row["assignee"]["id"] == ben.id

    async with visitor(hub.ws, tenant.id, query=_resume(client)) as again:  # nor in the transcript replayed
        replay = await again.until(lambda f: f["type"] == "message" and f["text"] == "hello?")
        assert note not in json.dumps(replay)
    async with hub.node.engine.connect() as connection:
        payloads = (await connection.execute(select(webhook_deliveries.c.payload))).scalars().all()
    assert payloads and not any(note in payload or "0042" in payload for payload in payloads)


def _resume(client: Visitor) -> str:
    ready = client.ready
    return f"session_id={ready['session_id']}&resume_token={ready['resume_token']}&last_seq=0"


async def test_round_robin_assigns_a_visitor_who_asks_for_a_person_to_whose_turn_it_is_among_those_online(
    hub: RunningHub, team: Any
) -> None:
    tenant = await hub.tenant()
    owner = await team(tenant.id, "Olga", "owner")
    anna, ben, carl = await team(tenant.id, "Anna"), await team(tenant.id, "Ben"), await team(tenant.id, "Carl")
    assert (await anna.http.patch("/api/settings", json={"round_robin": True})).status_code == 403
    turned_on = await owner.http.patch("/api/settings", json={"round_robin": True})
    assert turned_on.status_code == 200 and turned_on.json()["round_robin"] is True
    hub.node.forget_tenant(tenant.id)

    picked: list[str] = []
    async with agent_socket(hub.ws, token=anna.token) as desk, agent_socket(hub.ws, token=ben.token):
        for _ in range(4):  # Carl is offline, Olga too: never chosen
            async with visitor(hub.ws, tenant.id) as client:
                await client.send({"type": "handoff", "reason": "help"})
                session_id = client.ready["session_id"]
                patch = await desk.seen(lambda f, s=session_id: patch_of(s, "assignee")(f))
                picked.append(patch["session"]["assignee"]["name"])
                assert (await anna.http.get(f"/api/chat/sessions/{session_id}")).json()["waiting"] is not None
        staff = {member["name"]: member for member in (await ben.http.get("/api/chat/staff")).json()["staff"]}
    assert picked == ["Anna", "Ben", "Anna", "Ben"], "the fewest open first, then whose last turn is oldest"
    assert staff["Anna"]["online"] and staff["Anna"]["open_assigned"] == 2 and not staff["Carl"]["online"]
    assert staff["Carl"]["open_assigned"] == 0 and set(staff) == {"Olga", "Anna", "Ben", "Carl"}
    assert carl.id not in picked


async def test_with_round_robin_on_and_nobody_online_the_visitor_waits_unassigned_and_off_nothing_is_assigned(
    hub: RunningHub, team: Any
) -> None:
    tenant, quiet = await hub.tenant(settings={"round_robin": True}), await hub.tenant()
    anna, bea = await team(tenant.id, "Anna"), await team(quiet.id, "Bea")
    async with visitor(hub.ws, tenant.id) as client:
        await client.send({"type": "handoff"})
        await client.until(lambda f: f["type"] == "message" and f.get("event") == "handoff_requested")
        row = (await anna.http.get(f"/api/chat/sessions/{client.ready['session_id']}")).json()
        assert row["waiting"] is not None and row["assignee"] is None
    async with agent_socket(hub.ws, token=bea.token) as desk, visitor(hub.ws, quiet.id) as client:
        await client.send({"type": "handoff"})
        await desk.seen(patch_of(client.ready["session_id"], "waiting"))
        await client.until(lambda f: f["type"] == "message" and f.get("event") == "handoff_requested")
        row = (await bea.http.get(f"/api/chat/sessions/{client.ready['session_id']}")).json()
        assert row["waiting"] is not None and row["assignee"] is None, "round-robin is off unless turned on"


async def test_bad_assignments_are_refused_with_a_status_and_a_code(hub: RunningHub, team: Any, talk: Any) -> None:
    tenant, other = await hub.tenant(), await hub.tenant()
    anna, ben, stranger = await team(tenant.id, "Anna"), await team(tenant.id, "Ben"), await team(other.id, "Zed")
    customer_email = "customer@example.com"
    customer = await create_user(
        hub.node.engine, tenant_id=tenant.id, email=customer_email, password=PASSWORD, role="customer", kind="customer"
    )
    async with hub.node.engine.begin() as connection:
        await connection.execute(update(users).where(users.c.id == ben.id).values(disabled=True))
    _client, session_id = await talk(tenant.id)
    path = f"/api/chat/sessions/{session_id}"
    async with httpx.AsyncClient(base_url=hub.http) as anonymous:
        assert error(await anonymous.put(f"{path}/assignee", json={"agent_id": anna.id})) == (
            401,
            "unauthenticated",
        )
        customer_token = (
            await anonymous.post("/api/customers/auth/login", json={"email": customer_email, "password": PASSWORD})
        ).json()["token"]
        as_customer = await anonymous.put(
            f"{path}/assignee", json={"agent_id": anna.id}, headers={"Authorization": f"Bearer {customer_token}"}
        )
        assert error(as_customer) == (403, "forbidden")
    assert error(await anna.http.put(f"{path}/assignee", json={"agent_id": stranger.id})) == (404, "unknown_agent")
    assert error(await anna.http.put(f"{path}/assignee", json={"agent_id": customer.id})) == (422, "not_assignable")
    assert error(await anna.http.put(f"{path}/assignee", json={"agent_id": ben.id})) == (422, "not_assignable")
    assert error(await anna.http.put("/api/chat/sessions/nope/assignee", json={"agent_id": anna.id})) == (
        404,
        "unknown_session",
    )
    for body in ({}, {"agent_id": 5}, {"agent_id": ""}, {"agent_id": "x" * 65}):
        assert error(await anna.http.put(f"{path}/assignee", json=body)) == (400, "invalid_input"), body
    for body in (
        {"agent_id": anna.id},
        {"agent_id": anna.id, "note": "  "},
        {"agent_id": anna.id, "note": "x" * 501},
    ):
        assert error(await anna.http.post(f"{path}/transfer", json=body)) == (400, "invalid_input"), body
    assert (await anna.http.post(f"{path}/transfer", json={"agent_id": anna.id, "note": "mine now"})).status_code == 200
    assert error(await anna.http.post(f"{path}/transfer", json={"agent_id": anna.id, "note": "again"})) == (
        409,
        "already_assigned",
    )
    assert error(await anna.http.get("/api/chat/sessions", params={"view": "mine", "agent_id": anna.id})) == (
        400,
        "invalid_input",
    )

    async with agent_socket(hub.ws, token=anna.token) as desk:
        for frame, code in (
            ({"type": "assign", "session_id": session_id, "agent_id": stranger.id}, "unknown_agent"),
            ({"type": "assign", "session_id": session_id, "agent_id": customer.id}, "not_assignable"),
            ({"type": "assign", "session_id": "nope", "agent_id": anna.id}, "unknown_session"),
            ({"type": "assign", "session_id": session_id}, "invalid_frame"),
            ({"type": "transfer", "session_id": session_id, "agent_id": anna.id, "note": ""}, "invalid_frame"),
            ({"type": "transfer", "session_id": session_id, "agent_id": anna.id, "note": "x"}, "already_assigned"),
            ({"type": "assign", "session_id": session_id, "agent_id": "a\u0000b"}, "invalid_frame"),
        ):
            answer = await desk.command(frame)
            assert answer["type"] == "error" and answer["code"] == code, (frame, answer)


async def test_another_tenant_can_neither_see_nor_change_assignments(hub: RunningHub, team: Any, talk: Any) -> None:
    tenant, other = await hub.tenant(), await hub.tenant()
    anna, zed = await team(tenant.id, "Anna"), await team(other.id, "Zed")
    note = "secret handover note of shop A"
    _client, session_id = await talk(tenant.id)
    async with agent_socket(hub.ws, token=zed.token) as outsider:
        await anna.http.put(f"/api/chat/sessions/{session_id}/assignee", json={"agent_id": anna.id})
        ben = await team(tenant.id, "Ben")
        await anna.http.post(f"/api/chat/sessions/{session_id}/transfer", json={"agent_id": ben.id, "note": note})
        path = f"/api/chat/sessions/{session_id}"
        assert error(await zed.http.get(path)) == (404, "unknown_session")
        assert error(await zed.http.put(f"{path}/assignee", json={"agent_id": zed.id})) == (404, "unknown_session")
        assert error(await zed.http.post(f"{path}/transfer", json={"agent_id": zed.id, "note": "mine"})) == (
            404,
            "unknown_session",
        )
        assert (await zed.http.get("/api/chat/sessions")).json()["sessions"] == []
        assert error(await zed.http.get("/api/chat/sessions", params={"business_id": tenant.business_id})) == (
            403,
            "forbidden",
        )
        # Anna cannot hand her conversation to another tenant's agent either.
        assert error(await anna.http.put(f"{path}/assignee", json={"agent_id": zed.id})) == (404, "unknown_agent")
        answer = await outsider.command({"type": "assign", "session_id": session_id, "agent_id": zed.id})
        assert answer["code"] == "unknown_session"
        frames = json.dumps([f for f in outsider.history if f.get("ref") is None])
        assert session_id not in frames and note not in frames
    row = (await anna.http.get(f"/api/chat/sessions/{session_id}")).json()
    assert row["transfer"]["note"] == note


@pytest.fixture
async def two_nodes(shared_settings: Settings) -> AsyncIterator[tuple[RunningHub, RunningHub]]:
    async with two_hubs(shared_settings) as nodes:
        yield nodes


async def test_an_assignment_a_transfer_and_labels_made_on_node_a_show_on_node_bs_watcher_and_round_robin_sees_both(
    two_nodes: tuple[RunningHub, RunningHub],
) -> None:
    node_a, node_b = two_nodes
    tenant = await node_a.tenant(settings={"round_robin": True})
    tokens = {}
    for name, role in (("Olga", "owner"), ("Anna", "agent"), ("Ben", "agent")):
        answer = await login(node_a.http, await agent_account(node_a.node.engine, tenant.id, name, role))
        tokens[name] = (str(answer["token"]), answer["user"]["id"])
    (anna, anna_id), (ben, ben_id), (olga, _) = tokens["Anna"], tokens["Ben"], tokens["Olga"]
    async with (
        visitor(node_a.ws, tenant.id) as client,
        agent_socket(node_a.ws, token=anna) as on_a,
        agent_socket(node_b.ws, token=ben) as on_b,
        httpx.AsyncClient(base_url=node_a.http, headers={"Authorization": f"Bearer {olga}"}) as owner,
    ):
        await client.say("hello")
        session_id = client.ready["session_id"]
        await on_b.seen(lambda f: f["type"] == "session" and f["session"].get("seq") == 1)
        await on_b.watch(session_id)

        assert (await on_a.command({"type": "assign", "session_id": session_id, "agent_id": ben_id}))["type"] == "ok"
        patch = await on_b.seen(lambda f: patch_of(session_id, "assignee")(f) and f["session"]["assignee"])
        assert patch["session"]["assignee"] == {"id": ben_id, "name": "Ben"}

        note = "over to you, Anna: the visitor wants the invoice"
        answer = await on_b.command({"type": "transfer", "session_id": session_id, "agent_id": anna_id, "note": note})
        assert answer["type"] == "ok", answer
        patch = await on_a.seen(lambda f: patch_of(session_id, "transfer")(f) and f["session"]["transfer"])
        assert patch["session"]["transfer"]["note"] == note and patch["session"]["assignee"]["id"] == anna_id

        label = (await owner.post("/api/labels", json={"name": "Invoice", "color": "blue"})).json()
        await on_b.seen(lambda f: f["type"] == "labels" and f["labels"] and f["labels"][0]["id"] == label["id"])
        assert (await on_a.command({"type": "label", "session_id": session_id, "label_id": label["id"]}))[
            "type"
        ] == "ok"
        await on_b.seen(lambda f: patch_of(session_id, "labels")(f) and f["session"]["labels"] == [label["id"]])

        # Round-robin on node A knows Ben is online on node B only: Anna has one open conversation, Ben none.
        async with visitor(node_a.ws, tenant.id) as waiting:
            await waiting.send({"type": "handoff"})
            waiting_id = waiting.ready["session_id"]
            patch = await on_b.seen(lambda f: patch_of(waiting_id, "assignee")(f))
            assert patch["session"]["assignee"] == {"id": ben_id, "name": "Ben"}
