"""The chat's own lines (a person asked for, joined, handed back, closed) are written in the visitor's
language, and the hand-back names the assistant the visitor was talking to."""

from __future__ import annotations

from typing import Any

from hub.chat.announcements import ASKED, CLOSED, HANDED_BACK, JOINED, say
from hub.store.personas import create_persona
from tests.agents import agent_account, agent_socket, login
from tests.conftest import RunningHub, visitor


def system_line(frame: dict[str, Any]) -> bool:
    return frame["type"] == "message" and frame["role"] == "system"


async def test_a_polish_visitor_reads_the_teams_lines_in_polish_and_the_assistants_own_name(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    fields = {"name": "Ada", "description": "", "tone": "", "system_prompt": "You are Ada."}
    await create_persona(hub.node.engine, tenant.id, fields, activate=True)
    email = await agent_account(hub.node.engine, tenant.id, "Anna")
    token = str((await login(hub.http, email))["token"])
    async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=token) as anna:
        await client.say("Dzień dobry, chcę rozmawiać z człowiekiem")
        asked = (await client.until(system_line, timeout=10))[-1]
        assert asked["event"] == "handoff_requested"
        assert asked["text"] == (
            "Poprosiliśmy osobę z zespołu o dołączenie do tej rozmowy. W międzyczasie możesz dalej tu pisać."
        )
        session_id = client.ready["session_id"]

        # The Waiting card tells the team what the visitor said, in the visitor's words (no English stock phrase).
        waiting = await anna.seen(lambda f: f["type"] == "session" and bool(f["session"].get("waiting")), timeout=10)
        assert waiting["session"]["waiting"]["note"] == "Dzień dobry, chcę rozmawiać z człowiekiem"

        assert (await anna.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
        joined = (await client.until(lambda f: system_line(f) and f.get("event") == "takeover"))[-1]
        assert joined["text"] == "Anna dołącza do rozmowy" == say("pl", JOINED, name="Anna")
        assert (await anna.command({"type": "handback", "session_id": session_id}))["type"] == "ok"
        back = (await client.until(lambda f: system_line(f) and f.get("event") == "handback"))[-1]
        assert back["text"] == "Anna oddaje rozmowę asystentowi: Ada"
        assert (await anna.command({"type": "close", "session_id": session_id}))["type"] == "ok"
        closed = (await client.until(lambda f: system_line(f) and f.get("event") == "close"))[-1]
        assert closed["text"] == say("pl", CLOSED, name="Anna") == "Rozmowę zamyka Anna"


async def test_an_english_visitor_reads_them_in_english(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    email = await agent_account(hub.node.engine, tenant.id, "Anna")
    token = str((await login(hub.http, email))["token"])
    async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=token) as anna:
        await client.say("Hello, can I talk to a human please?")
        assert (await client.until(system_line, timeout=10))[-1]["text"] == ASKED
        session_id = client.ready["session_id"]
        assert (await anna.command({"type": "takeover", "session_id": session_id}))["type"] == "ok"
        await client.until(lambda f: system_line(f) and f["text"] == "Anna joined the chat")
        assert (await anna.command({"type": "handback", "session_id": session_id}))["type"] == "ok"
        back = (await client.until(lambda f: system_line(f) and f.get("event") == "handback"))[-1]
        assert back["text"] == say("en", HANDED_BACK, name="Anna", assistant="Bob")
        assert back["text"] == "Anna handed the chat back to Bob"
