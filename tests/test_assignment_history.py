"""What happened to a conversation's assignment, and who is told: every assignment is kept (who did it, from
whom, to whom, when, how) and listed by the app API to the tenant's staff only; the business's own systems get
``conversation.assigned`` and ``conversation.labels_changed`` webhooks, signed, without a transfer's staff-only
note; and a transfer hands a conversation over, taking it out of the hands of whoever held it, on every node."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from hub.store.database import alembic_config, open_engine
from hub.store.tables import assignments, webhook_deliveries
from hub.store.webhooks import create_endpoint
from tests.accounts import create_tenant, create_user
from tests.agents import PASSWORD, agent_account, agent_socket, login
from tests.conftest import RunningHub, visitor
from tests.services import postgres_for_tests
from tests.test_assignment import Staff, error, patch_of, talk, team, two_nodes
from tests.test_webhooks import add_endpoint, hook_hub, hook_settings
from tests.webhook_receiver import receiver

__all__ = ["hook_hub", "hook_settings", "talk", "team", "two_nodes"]  # the fixtures, used by name


@contextlib.asynccontextmanager
async def member(hub: RunningHub, tenant_id: str, name: str, role: str) -> AsyncIterator[Staff]:
    """A staff member of the tenant, logged in, with an HTTP client of theirs."""
    answer = await login(hub.http, await agent_account(hub.node.engine, tenant_id, name, role))
    token = str(answer["token"])
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as client:
        yield Staff(answer["user"]["id"], name, token, client)


def people(entries: list[dict[str, Any]], field: str) -> list[str | None]:
    return [entry[field]["name"] if entry[field] else None for entry in entries]


async def test_every_assignment_is_kept_with_who_did_it_from_whom_to_whom_when_and_how(
    hub: RunningHub, team: Any
) -> None:
    tenant = await hub.tenant(settings={"round_robin": True})
    olga = await team(tenant.id, "Olga", "owner")
    anna, ben, carl = await team(tenant.id, "Anna"), await team(tenant.id, "Ben"), await team(tenant.id, "Carl")
    async with agent_socket(hub.ws, token=anna.token) as desk:
        async with visitor(hub.ws, tenant.id) as client:  # round-robin: Anna is the only one online
            await client.send({"type": "handoff", "reason": "help"})
            session_id = client.ready["session_id"]
            await desk.seen(lambda f: patch_of(session_id, "assignee")(f) and f["session"]["assignee"])
        path = f"/api/chat/sessions/{session_id}"
        assert (await olga.http.put(f"{path}/assignee", json={"agent_id": ben.id})).status_code == 200
        assert (await ben.http.post(f"{path}/transfer", json={"agent_id": carl.id, "note": "VIP, be kind"})).is_success
        assert (await desk.command({"type": "assign", "session_id": session_id, "agent_id": None}))["type"] == "ok"
        assert (await desk.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
        assert (await olga.http.put(f"{path}/assignee", json={"agent_id": anna.id})).status_code == 200, "no change"

        answer = await carl.http.get(f"{path}/assignments")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    history = answer.json()["assignments"]
    assert [entry["kind"] for entry in history] == ["round_robin", "reassign", "transfer", "unassign", "takeover"]
    assert people(history, "assignee") == ["Anna", "Ben", "Carl", None, "Anna"]
    assert people(history, "previous") == [None, "Anna", "Ben", "Carl", None]
    assert people(history, "by") == [None, "Olga", "Ben", "Anna", "Anna"], "round-robin is the hub's: by nobody"
    assert [entry["note"] for entry in history] == [None, None, "VIP, be kind", None, None]
    assert [entry["at"] for entry in history] == sorted(entry["at"] for entry in history)

    # A renamed colleague shows under their new name in the history read afterwards.
    renamed = await ben.http.patch("/api/auth/me", json={"name": "Benedict"})
    assert renamed.status_code == 200, renamed.text
    again = (await anna.http.get(f"{path}/assignments")).json()["assignments"]
    assert people(again, "assignee")[1] == "Benedict" and people(again, "by")[2] == "Benedict"


async def test_only_the_tenants_staff_read_a_conversations_assignment_history(
    hub: RunningHub, team: Any, talk: Any
) -> None:
    tenant, other = await hub.tenant(), await hub.tenant()
    anna, zed = await team(tenant.id, "Anna"), await team(other.id, "Zed")
    _client, session_id = await talk(tenant.id)
    _other_client, other_session = await talk(other.id)
    path = f"/api/chat/sessions/{session_id}/assignments"
    await anna.http.post(f"/api/chat/sessions/{session_id}/transfer", json={"agent_id": anna.id, "note": "shop A"})
    assert [entry["kind"] for entry in (await anna.http.get(path)).json()["assignments"]] == ["transfer"]

    assert error(await zed.http.get(path)) == (404, "unknown_session")
    assert error(await zed.http.get(path, params={"business_id": tenant.business_id})) == (403, "forbidden")
    assert (await zed.http.get(f"/api/chat/sessions/{other_session}/assignments")).json() == {"assignments": []}
    assert error(await anna.http.get("/api/chat/sessions/nope/assignments")) == (404, "unknown_session")
    assert error(await anna.http.get(f"/api/chat/sessions/{'x' * 65}/assignments")) == (400, "invalid_input")
    customer_email = "history-customer@example.com"
    await create_user(
        hub.node.engine, tenant_id=tenant.id, email=customer_email, password=PASSWORD, role="customer", kind="customer"
    )
    async with httpx.AsyncClient(base_url=hub.http) as anonymous:
        assert error(await anonymous.get(path)) == (401, "unauthenticated")
        token = (
            await anonymous.post("/api/customers/auth/login", json={"email": customer_email, "password": PASSWORD})
        ).json()["token"]
        assert error(await anonymous.get(path, headers={"Authorization": f"Bearer {token}"})) == (403, "forbidden")


async def test_assignments_and_label_changes_reach_the_business_as_signed_webhooks_without_the_staff_note(
    hook_hub: RunningHub,
) -> None:
    hub = hook_hub
    note = "Card ends 0042, refund approved by the manager"
    async with receiver() as hooks, contextlib.AsyncExitStack() as stack:
        tenant = await hub.tenant()
        olga, anna, ben = [
            await stack.enter_async_context(member(hub, tenant.id, name, role))
            for name, role in (("Olga", "owner"), ("Anna", "agent"), ("Ben", "agent"))
        ]
        events = ["conversation.assigned", "conversation.labels_changed", "session.takeover"]
        hooks.secret = (await add_endpoint(hub, olga.token, hooks.url, events))["secret"]
        # Another tenant listens too, at the same address: anything it got would fail the signature check.
        other = await hub.tenant()
        await create_endpoint(hub.node.engine, other.id, hooks.url, events, "another business")
        label = (await olga.http.post("/api/labels", json={"name": "Refund", "color": "red"})).json()
        vip = (await olga.http.post("/api/labels", json={"name": "VIP", "color": "purple"})).json()
        async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=anna.token) as desk:
            await client.say("I want my money back")
            session_id = client.ready["session_id"]
            await desk.seen(lambda f: f["type"] == "session" and f["session"].get("seq") == 1)
            assert (await desk.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
            path = f"/api/chat/sessions/{session_id}"
            await anna.http.post(f"{path}/transfer", json={"agent_id": ben.id, "note": note})
            await ben.http.put(f"{path}/assignee", json={"agent_id": None})
            for _ in range(2):  # the second time changes nothing, and says nothing
                assert (await ben.http.put(f"{path}/labels/{label['id']}")).status_code == 200
            assert (await desk.command({"type": "label", "session_id": session_id, "label_id": vip["id"]}))["type"]
            await ben.http.delete(f"{path}/labels/{label['id']}")
            await hooks.wait_for(
                lambda got: (
                    len([e for e in got if e["type"].startswith("conversation.")]) >= 6
                    and any(e["type"] == "session.takeover" for e in got)
                )
            )
    assert hooks.rejected == 0, "every delivery verifies with the endpoint's secret"
    assigned = sorted((e["data"] for e in hooks.of_type("conversation.assigned")), key=lambda d: d["at"])
    assert [(d["kind"], people([d], "assignee")[0], people([d], "previous")[0]) for d in assigned] == [
        ("takeover", "Anna", None),
        ("transfer", "Ben", "Anna"),
        ("unassign", None, "Ben"),
    ]
    assert assigned[1]["by"] == {"id": anna.id, "name": "Anna"} and assigned[1]["session_id"] == session_id
    assert set(assigned[1]) == {"session_id", "kind", "assignee", "previous", "by", "at"}, "no note"
    changed = sorted((e["data"] for e in hooks.of_type("conversation.labels_changed")), key=lambda d: d["at"])
    assert [(d["label"]["name"], d["applied"], [x["name"] for x in d["labels"]]) for d in changed] == [
        ("Refund", True, ["Refund"]),
        ("VIP", True, ["Refund", "VIP"]),
        ("Refund", False, ["VIP"]),
    ]
    assert changed[0]["by"]["name"] == "Ben" and changed[1]["by"]["name"] == "Anna"
    assert changed[0]["label"] == {"id": label["id"], "name": "Refund", "color": "red"}
    async with hub.node.engine.connect() as connection:
        payloads = (await connection.execute(select(webhook_deliveries.c.payload))).scalars().all()
        tenants = set((await connection.execute(select(webhook_deliveries.c.tenant_id))).scalars())
    assert tenants == {tenant.id}, "the other tenant's endpoint heard nothing of this tenant's conversation"
    assert len(payloads) == 7 and not any(note in payload or "0042" in payload for payload in payloads)
    assert all(json.loads(payload)["data"]["session_id"] == session_id for payload in payloads)


async def test_a_transfer_takes_the_conversation_out_of_the_hands_of_the_colleague_who_held_it(
    hub: RunningHub, team: Any
) -> None:
    tenant = await hub.tenant()
    olga, ben, carl = (
        await team(tenant.id, "Olga", "owner"),
        await team(tenant.id, "Ben"),
        await team(tenant.id, "Carl"),
    )
    async with (
        visitor(hub.ws, tenant.id) as client,
        agent_socket(hub.ws, token=ben.token) as ben_desk,
        agent_socket(hub.ws, token=carl.token) as carl_desk,
    ):
        await client.say("my heater is broken")
        session_id = client.ready["session_id"]
        await ben_desk.seen(lambda f: f["type"] == "session" and f["session"].get("seq") == 1)
        assert (await ben_desk.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
        await client.until(lambda f: f["type"] == "message" and f["text"] == "Ben joined the chat")

        # Olga (who does not hold it) hands it to Carl: Ben no longer holds it, on his dashboard too.
        moved = await olga.http.post(
            f"/api/chat/sessions/{session_id}/transfer", json={"agent_id": carl.id, "note": "Carl knows heaters"}
        )
        assert moved.status_code == 200 and moved.json()["owner"] is None and moved.json()["mode"] == "human"
        patch = await ben_desk.seen(lambda f: patch_of(session_id, "transfer")(f) and f["session"]["transfer"])
        assert patch["session"]["owner"] is None and patch["session"]["assignee"]["name"] == "Carl"
        assert not any(session_id == held[1] for held in hub.node.control._held), "nobody renews Ben's claim"
        refused = await ben_desk.command({"type": "message", "session_id": session_id, "text": "still me"})
        assert refused["type"] == "error" and refused["code"] == "not_owner", refused

        assert (await carl_desk.command({"type": "takeover", "session_id": session_id}))["type"] == "ok", "no force"
        await client.until(lambda f: f["type"] == "message" and f["text"] == "Carl joined the chat")
        row = (await carl.http.get(f"/api/chat/sessions/{session_id}")).json()
        assert row["owner"]["id"] == carl.id and row["assignee"]["id"] == carl.id
        refused = await ben_desk.command({"type": "message", "session_id": session_id, "text": "hello?"})
        assert refused["code"] == "owned_by_other" and refused["owner"]["name"] == "Carl"

        # Transferring to the colleague who holds it leaves their hold as it is.
        assert (await olga.http.put(f"/api/chat/sessions/{session_id}/assignee", json={"agent_id": ben.id})).is_success
        kept = await olga.http.post(
            f"/api/chat/sessions/{session_id}/transfer", json={"agent_id": carl.id, "note": "back to you"}
        )
        assert kept.json()["owner"]["id"] == carl.id


async def test_a_transfer_made_on_node_a_ends_the_hold_of_an_agent_connected_to_node_b(
    two_nodes: tuple[RunningHub, RunningHub],
) -> None:
    node_a, node_b = two_nodes
    tenant = await node_a.tenant()
    tokens = {}
    for name, role in (("Olga", "owner"), ("Ben", "agent"), ("Carl", "agent")):
        answer = await login(node_a.http, await agent_account(node_a.node.engine, tenant.id, name, role))
        tokens[name] = (str(answer["token"]), answer["user"]["id"])
    async with (
        visitor(node_a.ws, tenant.id) as client,
        agent_socket(node_b.ws, token=tokens["Ben"][0]) as ben_on_b,
        agent_socket(node_a.ws, token=tokens["Carl"][0]) as carl_on_a,
        httpx.AsyncClient(base_url=node_a.http, headers={"Authorization": f"Bearer {tokens['Olga'][0]}"}) as owner,
    ):
        await client.say("hello")
        session_id = client.ready["session_id"]
        key = node_a.node.keys.takeover_lock(tenant.id, session_id)
        await ben_on_b.seen(lambda f: f["type"] == "session" and f["session"].get("seq") == 1)
        assert (await ben_on_b.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
        assert any(held[1] == session_id for held in node_b.node.control._held)

        moved = await owner.post(
            f"/api/chat/sessions/{session_id}/transfer", json={"agent_id": tokens["Carl"][1], "note": "yours"}
        )
        assert moved.status_code == 200, moved.text
        await ben_on_b.seen(lambda f: patch_of(session_id, "owner")(f) and f["session"]["owner"] is None)
        assert await node_a.node.coord.holder(key) is None, "the claim is released at once"
        assert not any(held[1] == session_id for held in node_b.node.control._held), "node B stops renewing it"
        assert (await carl_on_a.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
        assert (await node_b.node.coord.holder(key) or "").startswith(tokens["Carl"][1])


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_assignments_kept_before_the_history_existed_learn_who_had_the_conversation_before(
    kind: str, tmp_path: Path
) -> None:
    """Migration 0024 gives the assignments kept by the first version their ``previous`` (the row before them
    in the same conversation), and a plain assignment that replaced someone becomes a ``reassign``."""
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    rows = [  # (session, assignee, kind, minutes after start)
        ("s_one", "anna", "assign", 0),
        ("s_two", "dan", "transfer", 1),
        ("s_one", "ben", "assign", 2),
        ("s_one", None, "unassign", 3),
        ("s_one", "carl", "round_robin", 4),
    ]

    def upgrade(connection: Connection, target: str) -> None:
        command.upgrade(alembic_config(connection), target)

    async def run(url: str) -> list[tuple[str, str | None, str | None]]:
        engine = open_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(upgrade, "0021")
            tenant = await create_tenant(engine, name="Before", business_id="before-0024")
            async with engine.begin() as connection:
                for number, (session_id, assignee, made, minutes) in enumerate(rows):
                    await connection.execute(
                        text(
                            "INSERT INTO assignments (id, tenant_id, session_id, assignee_id, by_id, kind, note, "
                            "created_at) VALUES (:id, :tenant, :session, :assignee, NULL, :kind, NULL, :at)"
                        ),
                        {
                            "id": f"a{number}",
                            "tenant": tenant.id,
                            "session": session_id,
                            "assignee": assignee,
                            "kind": made,
                            "at": start + timedelta(minutes=minutes),
                        },
                    )
                await connection.run_sync(upgrade, "head")
            query = select(assignments.c.kind, assignments.c.previous_id, assignments.c.assignee_id).order_by(
                assignments.c.created_at
            )
            async with engine.connect() as connection:
                return [tuple(row) for row in (await connection.execute(query)).all()]
        finally:
            await engine.dispose()

    with contextlib.ExitStack() as stack:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'before.sqlite3'}"
        else:
            url = stack.enter_context(postgres_for_tests())
        kept = asyncio.run(run(url))
    assert kept == [
        ("assign", None, "anna"),
        ("transfer", None, "dan"),
        ("reassign", "anna", "ben"),
        ("unassign", "ben", None),
        ("round_robin", None, "carl"),
    ]
