"""The Mentions inbox: each person a note mentions has it stored, read or unread, and lists only their own
(`GET /api/mentions`), never another person's or another tenant's; marking read (`POST /api/mentions/read`)
reaches that person's other Mission Controls on every node, and nobody else's; a mention emailed while the person
is away is written in the language they use Mission Control in."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.settings import Settings
from hub.store import mentions as stored
from hub.store.database import migrate
from hub.store.models import Tenant
from hub.store.tables import notes
from tests.accounts import create_tenant, create_user
from tests.agents import PASSWORD, agent_socket
from tests.conftest import RunningHub, serve_hub, two_hubs
from tests.old_hubs import database_at
from tests.services import free_port
from tests.smtp_inbox import MAIL_FROM, Inbox, body, mail_settings
from tests.test_notes import Staff, nothing_more, staff


async def conversation(hub: RunningHub, tenant: Tenant, text: str = "Where is my parcel?") -> str:
    session_id = f"s_{uuid.uuid4().hex[:12]}"
    await hub.node.writer.append(tenant.id, session_id, "visitor", text)
    return session_id


async def note(hub: RunningHub, author: Staff, session_id: str, text: str, *mentioned: Staff) -> dict[str, Any]:
    async with author.client(hub) as http:
        written = await http.post(
            f"/api/conversations/{session_id}/notes", json={"text": text, "mentions": [p.id for p in mentioned]}
        )
    assert written.status_code == 201, written.text
    answer: dict[str, Any] = written.json()
    return answer


async def inbox_of(hub: RunningHub, person: Staff, **params: Any) -> dict[str, Any]:
    async with person.client(hub) as http:
        listed = await http.get("/api/mentions", params=params)
    assert listed.status_code == 200, listed.text
    assert listed.headers["cache-control"] == "no-store"
    answer: dict[str, Any] = listed.json()
    return answer


async def mark(hub: RunningHub, person: Staff, body: Any) -> httpx.Response:
    async with person.client(hub) as http:
        return await http.post("/api/mentions/read", json=body)


async def test_an_agent_lists_only_their_own_mentions_newest_first_with_the_unread_count(hub: RunningHub) -> None:
    shop, other = await hub.tenant(), await hub.tenant()
    anna, piotr, kasia = (
        await staff(hub, shop, "Anna"),
        await staff(hub, shop, "Piotr"),
        await staff(hub, shop, "Kasia"),
    )
    bea = await staff(hub, other, "Bea")
    parcel, refund = await conversation(hub, shop), await conversation(hub, shop, "I want my money back")
    first = await note(hub, anna, parcel, "@Piotr @Kasia the courier lost it", piotr, kasia)
    second = await note(hub, anna, refund, "@Piotr please refund", piotr)
    long_text = "@Piotr " + "very long explanation " * 20
    third = await note(hub, kasia, refund, long_text, piotr, anna)
    await note(hub, anna, parcel, "@Anna reminder to self", anna)  # nobody is in their own inbox

    mine = await inbox_of(hub, piotr)
    assert mine["unread"] == 3 and mine["next_before"] is None
    assert [m["note_id"] for m in mine["mentions"]] == [third["id"], second["id"], first["id"]], "newest first"
    newest = mine["mentions"][0]
    assert newest["session_id"] == refund and newest["author"] == {"id": kasia.id, "name": "Kasia"}
    assert len(newest["excerpt"]) == 200 and newest["excerpt"].endswith("…")
    assert long_text.startswith(newest["excerpt"][:-1])
    assert mine["mentions"][2]["excerpt"] == "@Piotr @Kasia the courier lost it"
    assert all(m["read"] is False and m["read_at"] is None for m in mine["mentions"])
    ids = [m["id"] for m in mine["mentions"]]

    assert [m["note_id"] for m in (await inbox_of(hub, kasia))["mentions"]] == [first["id"]]
    annas = await inbox_of(hub, anna)
    assert [m["note_id"] for m in annas["mentions"]] == [third["id"]] and annas["unread"] == 1
    assert await inbox_of(hub, bea) == {"mentions": [], "unread": 0, "next_before": None}, "another tenant's"

    page = await inbox_of(hub, piotr, limit=2)
    assert [m["id"] for m in page["mentions"]] == ids[:2] and page["next_before"] == ids[1] and page["unread"] == 3
    rest = await inbox_of(hub, piotr, limit=2, before=page["next_before"])
    assert [m["id"] for m in rest["mentions"]] == ids[2:] and rest["next_before"] is None

    for stranger in (kasia, bea):  # another person's mention is nobody's, for them: listed, or marked
        refused = await mark(hub, stranger, {"ids": [ids[0]]})
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "unknown_mention_id"
        async with stranger.client(hub) as http:
            paged = await http.get("/api/mentions", params={"before": ids[0]})
            assert paged.status_code == 404 and paged.json()["error"]["message"]
    assert (await inbox_of(hub, piotr))["unread"] == 3, "nothing was marked"

    read = await mark(hub, piotr, {"ids": [ids[0]]})
    assert read.status_code == 200 and read.json() == {"ids": [ids[0]], "up_to": None, "unread": 2}
    after = (await inbox_of(hub, piotr))["mentions"]
    assert after[0]["read"] is True and after[0]["read_at"] and [m["read"] for m in after[1:]] == [False, False]
    again = await mark(hub, piotr, {"ids": [ids[0], ids[0]]})
    assert again.json()["unread"] == 2
    assert (await inbox_of(hub, piotr))["mentions"][0]["read_at"] == after[0]["read_at"], "first read is kept"
    half = await mark(hub, piotr, {"ids": [ids[1], "no-such-mention"]})
    assert half.status_code == 404, "an unknown id: nothing marked"
    assert (await inbox_of(hub, piotr))["unread"] == 2

    everything = await mark(hub, piotr, {"all": True})
    assert everything.status_code == 200
    assert everything.json()["unread"] == 0 and everything.json()["up_to"]
    assert everything.json()["ids"] == sorted(ids[1:]), "the ones it marked: the first was read already"
    assert all(m["read"] for m in (await inbox_of(hub, piotr))["mentions"])
    assert (await inbox_of(hub, kasia))["unread"] == 1 and (await inbox_of(hub, anna))["unread"] == 1, "theirs stay"

    async with httpx.AsyncClient(base_url=hub.http) as anonymous:
        assert (await anonymous.get("/api/mentions")).status_code == 401
        assert (await anonymous.post("/api/mentions/read", json={"all": True})).status_code == 401
    async with piotr.client(hub) as http:  # another tenant, by business_id: platform admins only
        assert (await http.get("/api/mentions", params={"business_id": other.business_id})).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"all": False},
        {"ids": []},
        {"ids": "abc"},
        {"ids": [5]},
        {"ids": ["x" * 65]},
        {"ids": ["a"] * 101},
        {"ids": ["a"], "all": True},
        {"all": "yes"},
        [],
        "all",
    ],
)
async def test_a_bad_mark_read_body_is_a_400_with_the_error_shape(hub: RunningHub, body: Any) -> None:
    piotr = await staff(hub, await hub.tenant(), "Piotr")
    refused = await mark(hub, piotr, body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "invalid_input" and refused.json()["error"]["message"]


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "51"}, {"limit": "ten"}, {"limit": "-1"}, {"before": "x" * 65}]
)
async def test_a_bad_mentions_query_is_a_400_with_the_error_shape(hub: RunningHub, params: dict[str, str]) -> None:
    piotr = await staff(hub, await hub.tenant(), "Piotr")
    async with piotr.client(hub) as http:
        refused = await http.get("/api/mentions", params=params)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "invalid_input" and refused.json()["error"]["message"]


async def test_marking_read_reaches_the_persons_other_mission_controls_on_every_node_and_nobody_elses(
    shared_settings: Settings,
) -> None:
    async with two_hubs(shared_settings.with_overrides(ai_provider="none")) as (node_a, node_b):
        shop, other = await node_a.tenant(), await node_a.tenant()
        anna, piotr, kasia = (
            await staff(node_a, shop, "Anna"),
            await staff(node_a, shop, "Piotr"),
            await staff(node_a, shop, "Kasia"),
        )
        bea = await staff(node_a, other, "Bea")
        session_id = await conversation(node_a, shop)
        async with (
            agent_socket(node_a.ws, token=piotr.token) as piotr_here,
            agent_socket(node_b.ws, token=piotr.token) as piotr_there,
            agent_socket(node_b.ws, token=kasia.token) as kasia_desk,
            agent_socket(node_b.ws, token=bea.token) as bea_desk,
        ):
            written = await note(node_a, anna, session_id, "@Piotr @Kasia look", piotr, kasia)
            alert = await piotr_there.seen(lambda f: f["type"] == "mentioned")
            [stored] = (await inbox_of(node_b, piotr))["mentions"]
            assert alert["mention_id"] == stored["id"] and stored["note_id"] == written["id"]

            read = await mark(node_a, piotr, {"ids": [stored["id"]]})
            assert read.status_code == 200
            for desk in (piotr_here, piotr_there):
                frame = await desk.seen(lambda f: f["type"] == "mentions_read")
                assert frame == {
                    "type": "mentions_read",
                    "agent_id": piotr.id,
                    "ids": [stored["id"]],
                    "up_to": None,
                    "unread": 0,
                }
            for desk in (kasia_desk, bea_desk):
                assert not any(f["type"] == "mentions_read" for f in await nothing_more(desk))

            [hers] = (await inbox_of(node_b, kasia))["mentions"]
            everything = await mark(node_b, kasia, {"all": True})
            told = await kasia_desk.seen(lambda f: f["type"] == "mentions_read")
            assert told["up_to"] == everything.json()["up_to"] and told["unread"] == 0 and told["ids"] == [hers["id"]]
            for desk in (piotr_here, piotr_there, bea_desk):
                assert not any(f.get("agent_id") == kasia.id for f in await nothing_more(desk)), "Kasia's alone"


@pytest.fixture
async def mail_hub(settings: Settings, inbox: Inbox) -> AsyncIterator[RunningHub]:
    port = free_port()
    async with serve_hub(mail_settings(settings, inbox, port, ai_provider="none"), port=port) as running:
        yield running


async def test_a_mention_is_emailed_in_the_language_the_person_uses_mission_control_in(
    mail_hub: RunningHub, inbox: Inbox
) -> None:
    hub = mail_hub
    shop = await hub.tenant()
    anna, kasia, piotr = (
        await staff(hub, shop, "Anna"),
        await staff(hub, shop, "Kasia"),
        await staff(hub, shop, "Piotr"),
    )
    async with kasia.client(hub) as http:  # Kasia works in Polish: she switched Mission Control to it once
        assert (await http.get("/mission-control", params={"lang": "pl"})).status_code == 200
    async with piotr.client(hub) as http:  # Piotr's browser asks for English
        assert (await http.get("/mission-control", headers={"Accept-Language": "en-GB"})).status_code == 200
    session_id = await conversation(hub, shop)

    await note(hub, anna, session_id, "@Kasia @Piotr klient czeka na zwrot", kasia, piotr)
    emails = await inbox.wait_for(2)
    by_person = {email["To"].split("-", 1)[0]: email for email in emails}
    polish, english = by_person["kasia"], by_person["piotr"]
    assert polish["From"] == MAIL_FROM
    assert polish["Subject"] == "Anna wspomina o Tobie w notatce (Acme Test)"
    text = body(polish)
    assert "Anna wspomina o Tobie w prywatnej notatce do rozmowy w Acme Test:" in text, text
    assert "@Kasia @Piotr klient czeka na zwrot" in text
    assert f"Otwórz rozmowę w Mission Control: {hub.http}/mission-control#session={session_id}" in text
    assert "wzmianka czeka tam w sekcji Wzmianki" in text
    assert english["Subject"] == "Anna mentioned you in a note (Acme Test)"
    assert "Open the conversation in Mission Control:" in body(english)

    async with kasia.client(hub) as http:  # back to English: the next email follows
        assert (await http.get("/mission-control", params={"lang": "en"})).status_code == 200
    await note(hub, anna, session_id, "@Kasia thanks", kasia)
    latest = (await inbox.wait_for(3))[2]
    assert latest["To"].startswith("kasia-") and latest["Subject"] == "Anna mentioned you in a note (Acme Test)"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_mentions_in_notes_written_before_the_inbox_existed_are_in_it_as_read(
    backend: str, tmp_path: Path, postgres_url: str
) -> None:
    """Upgrading a hub whose team already mentioned each other: the inbox lists those notes (read: each person was
    alerted live at the time), never the author's own name, nor someone who is no staff member of the tenant."""
    async with database_at("0021", backend, tmp_path, postgres_url) as engine:
        tenant = await create_tenant(engine, name="Old Shop", business_id=f"old-{uuid.uuid4().hex[:8]}")
        other = await create_tenant(engine, name="Other Shop", business_id=f"other-{uuid.uuid4().hex[:8]}")
        olga, anna, stranger = [
            await create_user(engine, tenant_id=where.id, email=f"{name}@old.example.com", password=PASSWORD, role=role)
            for where, name, role in ((tenant, "olga", "owner"), (tenant, "anna", "agent"), (other, "sam", "agent"))
        ]
        written = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
        named = [{"id": person.id, "name": person.email} for person in (olga, anna, stranger)]
        async with engine.begin() as connection:
            await connection.execute(
                notes.insert().values(
                    id="note-old", tenant_id=tenant.id, session_id="s_old", author_id=olga.id, author_name="Olga",
                    text="@anna the refund is approved", mentions=named, after_seq=1, created_at=written,
                )
            )  # fmt: skip
        await migrate(engine)
        [listed] = await stored.inbox(engine, tenant.id, anna.id, limit=10) or []
        assert (listed.note_id, listed.session_id, listed.created_at, listed.read_at is not None) == (
            "note-old", "s_old", written, True,
        )  # fmt: skip
        assert await stored.inbox(engine, tenant.id, olga.id, limit=10) == []  # nobody is in their own note's inbox
        assert await stored.inbox(engine, other.id, stranger.id, limit=10) == []  # another tenant's person: nobody here
        assert await stored.unread_count(engine, tenant.id, anna.id) == 0
