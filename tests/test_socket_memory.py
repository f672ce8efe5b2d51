"""A closed socket is freed when its handler returns, not at the cycle collector's next full pass.

A serving node runs full collections rarely (``hub.app.tune_garbage_collector``). When a closed
socket's connection, feed, WebSocket and buffers were kept by reference cycles, each waited for one,
and a 30-minute soak grew about 1 MiB a minute on each node from the visitors who reconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
from collections.abc import AsyncIterator, Iterator

import pytest

from hub.settings import Settings
from tests.agents import agent_account, agent_socket, login
from tests.conftest import RunningHub, serve_hub, visitor

KINDS = ("VisitorConnection", "AgentConnection", "Feed", "_Watch")


def alive() -> dict[str, int]:
    """How many of each socket-side object exist, garbage in cycles included (with the collector off)."""
    counts = dict.fromkeys(KINDS, 0)
    for thing in gc.get_objects():
        kind = type(thing)
        if kind.__qualname__ in counts and kind.__module__.startswith("hub."):
            counts[kind.__qualname__] += 1
    return counts


@contextlib.contextmanager
def no_cycle_collector() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@pytest.fixture
async def slow_hub(settings: Settings) -> AsyncIterator[RunningHub]:
    """Replies take a while (30 ms a token), so a visitor can leave in the middle of one."""
    async with serve_hub(dataclasses.replace(settings, ai_token_delay_ms=30)) as running:
        yield running


async def handlers_done(hub: RunningHub) -> None:
    for _ in range(500):
        if not hub.node.sockets:
            await asyncio.sleep(0.05)  # the handler's last lines after it left the set
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(hub.node.sockets)} socket handlers never ended")


async def test_visitors_and_agents_who_leave_leave_nothing_behind(slow_hub: RunningHub) -> None:
    hub = slow_hub
    tenant = await hub.tenant()
    token = str((await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Anna")))["token"])
    with no_cycle_collector():
        before = alive()
        for _ in range(4):
            # A whole exchange, then a resume of it that leaves in the middle of the next reply.
            async with visitor(hub.ws, tenant.id) as client:
                await client.say("hello")
                await client.ai_reply()
                ready = client.ready
            query = f"session_id={ready['session_id']}&resume_token={ready['resume_token']}&last_seq=0"
            async with visitor(hub.ws, tenant.id, query=query) as again:
                await again.say("Tell me everything about your opening hours and prices please")
                await again.until(lambda frame: frame["type"] == "token")
            # An agent who watches the session and goes.
            async with agent_socket(hub.ws, token=token) as agent:
                await agent.watch(str(ready["session_id"]))
        await handlers_done(hub)
        assert alive() == before
