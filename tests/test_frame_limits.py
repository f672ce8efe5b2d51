"""What a flood of bad frames gets on either socket: its errors, then a clear close, never 4408.

Issue 16, defect 7: 2,000 invalid frames closed their sender with 4408 (its own error frames
overflowed its queue) before it read one error.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import websockets

from hub.settings import Settings
from tests.agents import agent_account, agent_socket, login
from tests.conftest import Visitor, serve_hub, visitor


async def flood(client: Visitor, frames: list[str]) -> int:
    """Send every frame without reading; returns how many went out before the hub closed the socket."""
    for sent, frame in enumerate(frames):
        try:
            await client.connection.send(frame)
        except websockets.ConnectionClosed:
            return sent
    return len(frames)


async def answers(client: Visitor, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The next ``count`` answers to the client's own frames: its messages' echoes, pongs and errors."""
    found: list[dict[str, Any]] = []
    while len(found) < count:
        frame = await client.recv(timeout)
        if frame["type"] in ("error", "pong") or (frame["type"] == "message" and frame["role"] == "visitor"):
            found.append(frame)
    return found


async def until_closed(client: Visitor, timeout: float = 20.0) -> tuple[list[dict[str, Any]], int | None, str]:
    """Every frame left, then the close code and reason."""
    frames: list[dict[str, Any]] = []
    try:
        while True:
            frames.append(orjson.loads(await asyncio.wait_for(client.connection.recv(), timeout)))
    except websockets.ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None, closed.rcvd.reason if closed.rcvd else ""


def quiet(settings: Settings, **overrides: object) -> Settings:
    return settings.with_overrides(ai_provider="none", ws_ping_interval_s=0, **overrides)


async def test_a_burst_of_2000_invalid_frames_gets_errors_and_then_1008_never_4408(settings: Settings) -> None:
    async with serve_hub(quiet(settings)) as hub:
        tenant = await hub.tenant()
        async with visitor(hub.ws, tenant.id) as client:
            await flood(client, ["{not json"] * 2000)
            frames, code, reason = await until_closed(client)
    assert code == 1008, (code, reason)
    assert "too many refused frames" in reason
    assert len(frames) == 21 and {frame["code"] for frame in frames} == {"invalid_json"}


async def test_every_error_of_a_burst_arrives_when_refusals_are_allowed(settings: Settings) -> None:
    """Answers wait for room in the socket's queue: 2,000 errors through a 1,024-frame queue, no 4408."""
    allowing = quiet(settings, rate_limit_socket_refusals="10000/minute")
    async with serve_hub(allowing) as hub:
        tenant = await hub.tenant()
        async with visitor(hub.ws, tenant.id) as client:
            await flood(client, ["[1, 2]"] * 2000)
            got = await answers(client, 2000)
            assert {frame["code"] for frame in got} == {"invalid_frame"}
            await client.send({"type": "ping"})
            assert (await answers(client, 1))[0]["type"] == "pong", "still open"


async def test_the_agent_socket_closes_a_flood_of_bad_frames_with_1008_after_its_errors(settings: Settings) -> None:
    async with serve_hub(quiet(settings)) as hub:
        tenant = await hub.tenant()
        token = (await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Ann")))["token"]
        async with agent_socket(hub.ws, token=token) as agent:
            for _ in range(2000):
                try:
                    await agent.connection.send('{"type":"no-such-frame"}')
                except websockets.ConnectionClosed:
                    break
            frames: list[dict[str, Any]] = []
            try:
                while True:
                    frames.append(await agent.recv(timeout=20))
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 1008, closed
    errors = [frame for frame in frames if frame["type"] == "error"]
    assert len(errors) == 21 and {frame["code"] for frame in errors} == {"unknown_type"}
