"""Labels: owners and admins define a tenant's labels, agents put them on conversations and filter the list by
them; every dashboard hears of it live; limits are enforced with clear codes; tenants never see each other's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hub.store.labels import MAX_PER_SESSION, MAX_PER_TENANT, create_label
from tests.agents import agent_socket
from tests.conftest import RunningHub
from tests.test_assignment import error, patch_of, talk, team

__all__ = ["talk", "team"]  # the fixtures, used by name


async def test_an_owner_adds_renames_and_deletes_labels_and_every_dashboard_hears_it(
    hub: RunningHub, team: Any
) -> None:
    tenant = await hub.tenant()
    olga, anna = await team(tenant.id, "Olga", "owner"), await team(tenant.id, "Anna")
    async with agent_socket(hub.ws, token=anna.token) as desk:
        assert desk.sessions == [] and desk.labels == []
        made = await olga.http.post("/api/labels", json={"name": "  Refund ", "color": "red"})
        assert made.status_code == 201, made.text
        refund = made.json()
        assert refund["name"] == "Refund" and refund["color"] == "red"
        frame = await desk.seen(lambda f: f["type"] == "labels")
        assert frame["labels"] == [{"id": refund["id"], "name": "Refund", "color": "red"}]

        vip = (await olga.http.post("/api/labels", json={"name": "VIP"})).json()
        assert vip["color"] == "gray"
        listed = (await anna.http.get("/api/labels")).json()["labels"]
        assert [label["name"] for label in listed] == ["Refund", "VIP"]

        renamed = await olga.http.patch(f"/api/labels/{vip['id']}", json={"name": "A-list", "color": "purple"})
        assert renamed.status_code == 200 and renamed.json()["name"] == "A-list"
        frame = await desk.seen(lambda f: f["type"] == "labels" and f["labels"][0]["name"] == "A-list")
        assert [label["color"] for label in frame["labels"]] == ["purple", "red"]

        assert error(await anna.http.post("/api/labels", json={"name": "Mine"})) == (403, "forbidden")
        assert error(await anna.http.patch(f"/api/labels/{vip['id']}", json={"name": "x"})) == (403, "forbidden")
        assert error(await anna.http.delete(f"/api/labels/{vip['id']}")) == (403, "forbidden")

        assert (await olga.http.delete(f"/api/labels/{vip['id']}")).status_code == 204
        await desk.seen(lambda f: f["type"] == "labels" and len(f["labels"]) == 1)
        assert error(await olga.http.delete(f"/api/labels/{vip['id']}")) == (404, "unknown_label")
    async with agent_socket(hub.ws, token=anna.token) as later:  # the snapshot carries the labels as they are
        assert later.labels == [{"id": refund["id"], "name": "Refund", "color": "red"}]


async def test_agents_put_labels_on_conversations_and_filter_the_list_by_them(
    hub: RunningHub, team: Any, talk: Any
) -> None:
    tenant = await hub.tenant()
    olga, anna = await team(tenant.id, "Olga", "owner"), await team(tenant.id, "Anna")
    refund = (await olga.http.post("/api/labels", json={"name": "Refund", "color": "red"})).json()
    vip = (await olga.http.post("/api/labels", json={"name": "VIP", "color": "yellow"})).json()
    _first, first_id = await talk(tenant.id)
    _second, second_id = await talk(tenant.id)
    async with agent_socket(hub.ws, token=anna.token) as desk:
        put = await anna.http.put(f"/api/chat/sessions/{first_id}/labels/{vip['id']}")
        assert put.status_code == 200 and put.json()["labels"] == [vip["id"]], put.text
        again = await anna.http.put(f"/api/chat/sessions/{first_id}/labels/{vip['id']}")
        assert again.json()["labels"] == [vip["id"]], "putting it on twice changes nothing"
        answer = await desk.command({"type": "label", "session_id": first_id, "label_id": refund["id"]})
        assert answer["type"] == "ok" and answer["action"] == "label", answer
        patch = await desk.seen(lambda f: patch_of(first_id, "labels")(f) and len(f["session"]["labels"]) == 2)
        assert patch["session"]["labels"] == [refund["id"], vip["id"]], "by the labels' names"

        filtered = (await anna.http.get("/api/chat/sessions", params={"label_id": refund["id"]})).json()
        assert [row["id"] for row in filtered["sessions"]] == [first_id]
        unlabelled = await anna.http.get("/api/chat/sessions", params={"label_id": "nope"})
        assert unlabelled.json()["sessions"] == []

        answer = await desk.command({"type": "label", "session_id": first_id, "label_id": vip["id"], "applied": False})
        assert answer["type"] == "ok"
        await desk.seen(lambda f: patch_of(first_id, "labels")(f) and f["session"]["labels"] == [refund["id"]])
        taken_off = await anna.http.delete(f"/api/chat/sessions/{first_id}/labels/{refund['id']}")
        assert taken_off.status_code == 200 and taken_off.json()["labels"] == []

        await anna.http.put(f"/api/chat/sessions/{second_id}/labels/{vip['id']}")
        assert (await olga.http.delete(f"/api/labels/{vip['id']}")).status_code == 204
        row = (await anna.http.get(f"/api/chat/sessions/{second_id}")).json()
        assert row["labels"] == [], "a deleted label leaves every conversation"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 41},
        {"name": "tab\there"},
        {"name": "Refund", "color": "teal"},
        {"name": 5},
        [],
    ],
)
async def test_a_bad_label_is_a_400_with_the_error_shape(hub: RunningHub, team: Any, body: Any) -> None:
    tenant = await hub.tenant()
    olga = await team(tenant.id, "Olga", "owner")
    assert error(await olga.http.post("/api/labels", json=body)) == (400, "invalid_input")
    assert (await olga.http.get("/api/labels")).json()["labels"] == []


async def test_label_limits_and_unknown_labels_are_refused_with_codes(hub: RunningHub, team: Any, talk: Any) -> None:
    tenant = await hub.tenant()
    olga, anna = await team(tenant.id, "Olga", "owner"), await team(tenant.id, "Anna")
    refund = (await olga.http.post("/api/labels", json={"name": "Refund"})).json()
    assert error(await olga.http.post("/api/labels", json={"name": "REFUND"})) == (409, "label_exists")
    other = (await olga.http.post("/api/labels", json={"name": "Other"})).json()
    assert error(await olga.http.patch(f"/api/labels/{other['id']}", json={"name": "refund"})) == (409, "label_exists")
    assert (await olga.http.patch(f"/api/labels/{other['id']}", json={"name": "OTHER"})).status_code == 200
    for number in range(MAX_PER_TENANT - 2):
        await create_label(hub.node.engine, tenant.id, f"Label {number:02}", "blue")
    full = await olga.http.post("/api/labels", json={"name": "One too many"})
    assert error(full) == (409, "too_many_labels") and str(MAX_PER_TENANT) in full.json()["error"]["message"]

    _client, session_id = await talk(tenant.id)
    listed = (await anna.http.get("/api/labels")).json()["labels"]
    for label in listed[:MAX_PER_SESSION]:
        assert (await anna.http.put(f"/api/chat/sessions/{session_id}/labels/{label['id']}")).status_code == 200
    eleventh = listed[MAX_PER_SESSION]["id"]
    assert error(await anna.http.put(f"/api/chat/sessions/{session_id}/labels/{eleventh}")) == (
        409,
        "session_label_limit",
    )
    assert error(await anna.http.put(f"/api/chat/sessions/{session_id}/labels/nope")) == (404, "unknown_label")
    assert error(await anna.http.put(f"/api/chat/sessions/nope/labels/{refund['id']}")) == (404, "unknown_session")
    assert error(await olga.http.patch("/api/labels/nope", json={"name": "x"})) == (404, "unknown_label")
    async with agent_socket(hub.ws, token=anna.token) as desk:
        for frame, code in (
            ({"type": "label", "session_id": session_id, "label_id": eleventh}, "session_label_limit"),
            ({"type": "label", "session_id": session_id, "label_id": "nope"}, "unknown_label"),
            ({"type": "label", "session_id": session_id}, "invalid_frame"),
            (
                {"type": "label", "session_id": session_id, "label_id": refund["id"], "applied": "yes"},
                "invalid_frame",
            ),
        ):
            answer = await desk.command(frame)
            assert answer["type"] == "error" and answer["code"] == code, (frame, answer)


async def test_a_tenant_never_sees_changes_or_applies_another_tenants_labels(
    hub: RunningHub, team: Any, talk: Any
) -> None:
    shop_a, shop_b = await hub.tenant(), await hub.tenant()
    olga, anna = await team(shop_a.id, "Olga", "owner"), await team(shop_a.id, "Anna")
    bea, bob = await team(shop_b.id, "Bea", "owner"), await team(shop_b.id, "Bob")
    async with agent_socket(hub.ws, token=bob.token) as outsider:
        secret = (await olga.http.post("/api/labels", json={"name": "Secret of A"})).json()
        own = (await bea.http.post("/api/labels", json={"name": "B's own"})).json()
        _client_a, session_a = await talk(shop_a.id)
        _client_b, session_b = await talk(shop_b.id)
        await anna.http.put(f"/api/chat/sessions/{session_a}/labels/{secret['id']}")
        assert [label["name"] for label in (await bob.http.get("/api/labels")).json()["labels"]] == ["B's own"]
        assert error(await bea.http.patch(f"/api/labels/{secret['id']}", json={"name": "x"})) == (
            404,
            "unknown_label",
        )
        assert error(await bea.http.delete(f"/api/labels/{secret['id']}")) == (404, "unknown_label")
        assert error(await bob.http.put(f"/api/chat/sessions/{session_b}/labels/{secret['id']}")) == (
            404,
            "unknown_label",
        )
        assert error(await bob.http.put(f"/api/chat/sessions/{session_a}/labels/{own['id']}")) == (
            404,
            "unknown_session",
        )
        assert error(await bob.http.get("/api/labels", params={"business_id": shop_a.business_id})) == (
            403,
            "forbidden",
        )
        answer = await outsider.command({"type": "label", "session_id": session_b, "label_id": secret["id"]})
        assert answer["code"] == "unknown_label"
        own_patch = await outsider.seen(patch_of(session_b, "seq"))
        assert own_patch is not None
        frames = json.dumps([f for f in outsider.history if f.get("ref") is None])
        assert "Secret of A" not in frames and secret["id"] not in frames and session_a not in frames
        assert (await anna.http.get(f"/api/chat/sessions/{session_a}")).json()["labels"] == [secret["id"]]
