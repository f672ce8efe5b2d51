"""Private notes: staff write them beside a conversation and only staff ever see them (never the visitor's
socket, the HTTP chat paths, a resumed transcript, the AI or a webhook); they reach every agent watching the
conversation on every node; a mention alerts the person mentioned, and only them, only in that tenant."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from hub.mail.base import MemoryMailer
from hub.protocol import MAX_MENTIONS
from hub.settings import Settings
from hub.store.models import Tenant
from tests.accounts import create_widget_key
from tests.agents import Agent, agent_account, agent_socket, login
from tests.conftest import RunningHub, serve_hub, two_hubs, visitor
from tests.fake_openai import FakeOpenAI, fake_openai
from tests.push_receiver import PushService, push_service
from tests.test_push import KEYS, subscribe
from tests.test_webhooks import add_endpoint
from tests.webhook_receiver import receiver

SECRET = "Refund approved by finance, card ending 4242"


@dataclasses.dataclass
class Staff:
    id: str
    name: str
    token: str

    def client(self, hub: RunningHub) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {self.token}"})


async def staff(hub: RunningHub, tenant: Tenant, name: str, role: str = "agent") -> Staff:
    body = await login(hub.http, await agent_account(hub.node.engine, tenant.id, name, role))
    return Staff(body["user"]["id"], body["user"]["name"], body["token"])


async def nothing_more(agent: Agent) -> list[dict[str, Any]]:
    """Every frame the socket got, up to the answer to a ping sent now: all that reached it before this point."""
    await agent.send({"type": "ping"})
    await agent.until(lambda f: f["type"] == "pong")
    return agent.history


def holds(frames: list[dict[str, Any]], text: str) -> bool:
    return text in orjson.dumps(frames).decode()


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, webhooks_allow_private=True)


async def test_a_note_reaches_the_staff_watching_and_nothing_a_visitor_or_a_webhook_reads(
    hook_settings: Settings,
) -> None:
    async with serve_hub(hook_settings) as hub, receiver() as hooks:
        tenant = await hub.tenant()
        olga, anna = await staff(hub, tenant, "Olga", "owner"), await staff(hub, tenant, "Anna")
        hooks.secret = (await add_endpoint(hub, olga.token, hooks.url))["secret"]
        async with (
            visitor(hub.ws, tenant.id) as client,
            agent_socket(hub.ws, token=anna.token) as anna_desk,
            agent_socket(hub.ws, token=olga.token) as olga_desk,
        ):
            await client.say("hello")
            seen_by_visitor = await client.ai_reply()
            session_id = client.ready["session_id"]
            await anna_desk.watch(session_id)

            answer = await anna_desk.command({"type": "note", "session_id": session_id, "text": SECRET})
            assert answer["type"] == "ok" and answer["action"] == "note" and answer["id"]
            live = await anna_desk.seen(lambda f: f["type"] == "note")
            assert live["session_id"] == session_id
            note = live["note"]
            assert note == {
                "id": answer["id"],
                "author": {"id": anna.id, "name": "Anna"},
                "text": SECRET,
                "created_at": note["created_at"],
                "after_seq": 2,
                "mentions": [],
            }
            assert not holds(await nothing_more(olga_desk), SECRET), "a socket not watching the session gets no note"
            watched = await olga_desk.watch(session_id)
            assert watched[-1] == {"type": "notes", "session_id": session_id, "notes": [note]}, "after the replay"

            # The visitor goes on talking: nothing they get holds the note, and neither does the AI's reply.
            await client.say("thanks, and when does it arrive?")
            seen_by_visitor += await client.ai_reply()
            await client.send({"type": "ping"})
            seen_by_visitor += await client.until(lambda f: f["type"] == "pong")
            assert not holds(seen_by_visitor, SECRET)
            resume = {"type": "resume", "session_id": session_id, "resume_token": client.ready["resume_token"]}

        async with visitor(hub.ws, tenant.id) as again:  # the visitor comes back: the whole transcript again
            await again.send({**resume, "last_seq": 0})
            replay = await again.until(lambda f: f["type"] == "message" and f["seq"] == 4)
            assert [f["seq"] for f in replay if f["type"] == "message"] == [1, 2, 3, 4]
            assert not holds(replay, SECRET)
        async with anna.client(hub) as http:
            history = await http.get(f"/api/chat/history/{session_id}")
            assert history.status_code == 200 and len(history.json()["messages"]) == 4
            assert not holds(history.json(), SECRET)
            listed = await http.get(f"/api/conversations/{session_id}/notes")
            assert listed.status_code == 200 and listed.json() == {"session_id": session_id, "notes": [note]}
        await hooks.wait_for(lambda got: len([e for e in got if e["type"] == "message.created"]) >= 4)
        await asyncio.sleep(0.5)  # anything else the outbox held has gone out too
        assert hooks.rejected == 0 and not holds(hooks.received, SECRET)
        assert {event["type"] for event in hooks.received} <= {"session.created", "message.created"}


async def test_a_note_never_reaches_the_widgets_http_path(hub: RunningHub) -> None:
    shop_origin = "https://shop.example.com"
    tenant = await hub.tenant()
    key = await create_widget_key(hub.node.engine, tenant.id, [shop_origin])
    anna = await staff(hub, tenant, "Anna")
    headers = {"Origin": shop_origin, "X-Widget-Key": key.key}
    async with (
        agent_socket(hub.ws, token=anna.token) as desk,
        httpx.AsyncClient(base_url=hub.http, headers=headers) as widget,
    ):
        first = await widget.post("/api/widget/chat", json={"session_id": "w1", "message": "hello"})
        assert first.status_code == 200, first.text
        widget.headers["X-Visitor-Token"] = first.json()["visitor_token"]
        session_id = (await desk.seen(lambda f: f["type"] == "session" and "created_at" in f["session"]))["session"][
            "id"
        ]
        assert (await desk.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
        assert (await desk.command({"type": "note", "session_id": session_id, "text": SECRET}))["type"] == "ok"
        said = await desk.command({"type": "message", "session_id": session_id, "text": "I'm on it."})
        assert said["type"] == "ok"
        second = await widget.post("/api/widget/chat", json={"session_id": "w1", "message": "any news?"})
        assert second.status_code == 200, second.text
        assert "I'm on it." in [message["text"] for message in second.json()["messages"]], "agent lines do come"
        assert SECRET not in first.text + second.text


async def test_a_note_is_never_part_of_what_the_ai_is_told(settings: Settings) -> None:
    async with fake_openai() as fake:
        configured = dataclasses.replace(settings, ai_provider="openai", openai_base_url=fake.base_url)
        async with serve_hub(configured) as hub:
            tenant = await hub.tenant()
            anna = await staff(hub, tenant, "Anna")
            async with visitor(hub.ws, tenant.id) as client:
                await client.say("hello")
                await client.ai_reply()
                session_id = client.ready["session_id"]
                async with anna.client(hub) as http:
                    written = await http.post(f"/api/conversations/{session_id}/notes", json={"text": SECRET})
                    assert written.status_code == 201, written.text
                await client.say("is my refund approved?")
                await client.ai_reply()
            told = await asked_of(fake, 2)
            assert "is my refund approved?" in told and "hello" in told and SECRET not in told


async def asked_of(fake: FakeOpenAI, number: int) -> str:
    return orjson.dumps((await fake.request(number)).messages).decode()


async def test_a_note_reaches_an_agent_watching_on_another_node_and_a_mention_reaches_only_that_person(
    shared_settings: Settings,
) -> None:
    async with two_hubs(shared_settings.with_overrides(ai_provider="none")) as (node_a, node_b):
        shop, other = await node_a.tenant(), await node_a.tenant()
        anna, piotr, olga = (
            await staff(node_a, shop, "Anna"),
            await staff(node_a, shop, "Piotr"),
            await staff(node_a, shop, "Olga", "owner"),
        )
        bea = await staff(node_a, other, "Bea")
        async with (
            visitor(node_a.ws, shop.id) as client,
            agent_socket(node_a.ws, token=anna.token) as anna_desk,
            agent_socket(node_b.ws, token=piotr.token) as piotr_desk,
            agent_socket(node_b.ws, token=olga.token) as olga_desk,
            agent_socket(node_b.ws, token=bea.token) as bea_desk,
        ):
            await client.say("my parcel never came")
            await client.until(lambda f: f["type"] == "message" and f["role"] == "visitor")
            session_id = client.ready["session_id"]
            await olga_desk.watch(session_id)  # Olga watches on node B, is not mentioned

            text = "@Piotr can you check the courier? @Anna"
            mentions = [piotr.id, anna.id]  # the author herself: shown, not alerted
            answer = await anna_desk.command(
                {"type": "note", "session_id": session_id, "text": text, "mentions": mentions}
            )
            assert answer["type"] == "ok", answer
            note = (await olga_desk.seen(lambda f: f["type"] == "note"))["note"]
            assert note["text"] == text and note["mentions"] == [
                {"id": piotr.id, "name": "Piotr"},
                {"id": anna.id, "name": "Anna"},
            ]
            alert = await piotr_desk.seen(lambda f: f["type"] == "mentioned")
            assert alert == {
                "type": "mentioned",
                "agent_id": piotr.id,
                "session_id": session_id,
                "note": note,
                "mention_id": alert["mention_id"],
            }
            async with piotr.client(node_b) as http:  # the alert is in Piotr's Mentions inbox, unread
                inbox = (await http.get("/api/mentions")).json()
            assert [(m["id"], m["note_id"], m["read"]) for m in inbox["mentions"]] == [
                (alert["mention_id"], note["id"], False)
            ]
            assert not holds(await nothing_more(piotr_desk), '"type":"note"'), "Piotr does not watch it"
            for desk in (olga_desk, bea_desk, anna_desk):
                assert not any(f["type"] == "mentioned" for f in await nothing_more(desk))
            assert not holds(await nothing_more(bea_desk), text), "another tenant hears nothing of it"

            refused = await anna_desk.command(
                {"type": "note", "session_id": session_id, "text": "@Bea hi", "mentions": [bea.id]}
            )
            assert refused["type"] == "error" and refused["code"] == "unknown_mention"
            assert not any(f["type"] == "mentioned" for f in await nothing_more(bea_desk))
            async with bea.client(node_b) as http:  # Bea's tenant cannot read or write the shop's notes
                assert (await http.get(f"/api/conversations/{session_id}/notes")).status_code == 404
                written = await http.post(f"/api/conversations/{session_id}/notes", json={"text": "mine"})
                assert written.status_code == 404 and written.json()["error"]["code"] == "unknown_session"
            foreign = await bea_desk.command({"type": "note", "session_id": session_id, "text": "mine"})
            assert foreign["type"] == "error" and foreign["code"] == "unknown_session"
            async with olga.client(node_a) as http:
                notes = (await http.get(f"/api/conversations/{session_id}/notes")).json()["notes"]
                assert [n["text"] for n in notes] == [text], "refused notes were not stored"


@pytest.fixture
async def pushes() -> AsyncIterator[PushService]:
    async with push_service() as service:
        service.vapid_public_key = KEYS["public_key"]
        yield service


async def test_a_mention_pushes_to_the_persons_devices_and_emails_them_when_their_mission_control_is_closed(
    settings: Settings, pushes: PushService
) -> None:
    mailer = MemoryMailer()
    configured = dataclasses.replace(
        settings,
        vapid_private_key=KEYS["private_key"],
        vapid_subject="mailto:ops@bob.example.com",
        push_allow_private=True,
        public_url="https://chat.example.com",
        ai_provider="none",
    )
    async with serve_hub(configured, mailer=mailer) as hub:
        tenant, other = await hub.tenant(), await hub.tenant()
        anna, piotr, kasia = (
            await staff(hub, tenant, "Anna"),
            await staff(hub, tenant, "Piotr"),
            await staff(hub, tenant, "Kasia"),
        )
        bea = await staff(hub, other, "Bea")
        async with piotr.client(hub) as http:
            await subscribe(http, pushes.device("piotr-phone"))
        async with anna.client(hub) as http:
            await subscribe(http, pushes.device("anna-phone"))
        async with bea.client(hub) as http:
            await subscribe(http, pushes.device("bea-phone"))
        async with visitor(hub.ws, tenant.id) as client:
            await client.say("hello")
            await client.until(lambda f: f["type"] == "message" and f["role"] == "visitor")
            session_id = client.ready["session_id"]
        async with agent_socket(hub.ws, token=piotr.token) as piotr_desk, anna.client(hub) as http:
            written = await http.post(
                f"/api/conversations/{session_id}/notes",
                json={"text": "@Piotr @Kasia please look", "mentions": [piotr.id, kasia.id]},
            )
            assert written.status_code == 201, written.text
            await piotr_desk.seen(lambda f: f["type"] == "mentioned")
            await pushes.wait_for(lambda got: len(got.received) >= 1)
            [email] = await mailer.wait_for(1)
            await asyncio.sleep(0.5)
        [push] = pushes.to("piotr-phone")
        assert push == {
            "type": "mention",
            "title": "Anna mentioned you in a note",
            "body": "@Piotr @Kasia please look",
            "url": f"/mission-control#session={session_id}",
            "session_id": session_id,
            "tag": f"mention-{written.json()['id']}",
        }
        assert pushes.to("anna-phone") == [] and pushes.to("bea-phone") == []
        assert email.to.startswith("kasia-"), "Kasia has no Mission Control open; Piotr has"
        assert email.subject == "Anna mentioned you in a note (Acme Test)"
        assert f"https://chat.example.com/mission-control#session={session_id}" in email.text
        assert "@Piotr @Kasia please look" in email.text
        assert len(mailer.sent) == 1


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"text": ""}, "empty_text"),
        ({"text": "   "}, "empty_text"),
        ({"text": "x" * 4001}, "text_too_long"),
        ({"text": "hi", "mentions": ["u"] * (MAX_MENTIONS + 1)}, "invalid_frame"),
        ({"text": "hi", "mentions": "nobody"}, "invalid_frame"),
        ({"text": "hi", "mentions": ["no-such-person"]}, "unknown_mention"),
        ({"text": "hi", "session_id": "s_nothing_here"}, "unknown_session"),
        ({"mentions": []}, "invalid_frame"),
    ],
)
async def test_a_bad_note_frame_is_refused_with_its_code(hub: RunningHub, frame: dict[str, Any], code: str) -> None:
    tenant = await hub.tenant()
    anna = await staff(hub, tenant, "Anna")
    async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=anna.token) as desk:
        await client.say("hello")
        await client.ai_reply()
        answer = await desk.command({"type": "note", "session_id": client.ready["session_id"], **frame})
        assert answer["type"] == "error" and answer["code"] == code, answer
    async with anna.client(hub) as http:
        notes = await http.get(f"/api/conversations/{client.ready['session_id']}/notes")
        assert notes.json()["notes"] == []


@pytest.mark.parametrize(
    "body",
    [{}, {"text": ""}, {"text": "  "}, {"text": "x" * 4001}, {"text": 5}, {"text": "hi", "mentions": ["x"] * 21}, []],
)
async def test_a_bad_note_body_is_a_400_with_the_error_shape(hub: RunningHub, body: Any) -> None:
    tenant = await hub.tenant()
    anna = await staff(hub, tenant, "Anna")
    async with visitor(hub.ws, tenant.id) as client:
        await client.say("hello")
        await client.ai_reply()
    async with anna.client(hub) as http:
        response = await http.post(f"/api/conversations/{client.ready['session_id']}/notes", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_input" and response.json()["error"]["message"]


async def test_every_agent_reads_the_team_for_mentions_and_only_their_own_tenants(hub: RunningHub) -> None:
    tenant, other = await hub.tenant(), await hub.tenant()
    anna, olga = await staff(hub, tenant, "Anna"), await staff(hub, tenant, "Olga", "owner")
    bea = await staff(hub, other, "Bea")
    async with anna.client(hub) as http:
        team = await http.get("/api/staff")
        assert team.status_code == 200
        assert team.json() == {
            "staff": [
                {"id": anna.id, "name": "Anna", "role": "agent"},
                {"id": olga.id, "name": "Olga", "role": "owner"},
            ]
        }
        assert (await http.get("/api/staff", params={"business_id": other.business_id})).status_code == 403
    async with bea.client(hub) as http:
        assert [person["name"] for person in (await http.get("/api/staff")).json()["staff"]] == ["Bea"]
    async with httpx.AsyncClient(base_url=hub.http) as anonymous:
        assert (await anonymous.get("/api/staff")).status_code == 401
