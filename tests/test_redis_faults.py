"""Redis is a fast path, not the source of truth: outages lose and duplicate nothing.

These tests start and stop their own ``redis-server`` (never the shared one) and, for a deaf
listener or a partition of one node, put a cuttable TCP proxy (``tests/proxy.py``) between it and Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hub.broker.redis import RedisBroker
from hub.settings import Settings
from hub.store.models import Tenant
from tests.conftest import SECRET, serve_hub, visitor
from tests.proxy import Proxy, proxy_to
from tests.services import TEST_PASSWORD_HASHING, HubProcess, RedisServer


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def two_nodes(own_redis: RedisServer, postgres_url: str) -> Iterator[tuple[HubProcess, HubProcess]]:
    env = {
        "HUB_DATABASE_URL": postgres_url,
        "HUB_REDIS_URL": own_redis.url,
        "HUB_SECRET_KEY": SECRET,
        "HUB_AI_PROVIDER": "none",
        "HUB_LOG_LEVEL": "warning",
    }
    nodes = (HubProcess(env), HubProcess(env))
    for node in nodes:
        node.start()
    try:
        yield nodes
    finally:
        for node in nodes:
            node.stop()


async def wait_health(node: HubProcess, status: int, timeout: float) -> float:
    started = time.monotonic()
    async with httpx.AsyncClient() as client:
        while time.monotonic() - started < timeout:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{node.http}/api/health", timeout=2)).status_code == status:
                    return time.monotonic() - started
            await asyncio.sleep(0.1)
    raise AssertionError(f"health never answered {status} within {timeout}s")


def seqs(frames: list[dict[str, Any]]) -> list[int]:
    return [frame["seq"] for frame in frames if frame["type"] == "message"]


async def test_redis_restart_mid_conversation_loses_and_duplicates_nothing(
    two_nodes: tuple[HubProcess, HubProcess], own_redis: RedisServer, pg_tenant: Tenant
) -> None:
    node_a, node_b = two_nodes
    async with visitor(node_a.ws, pg_tenant.id) as on_a:
        query = f"session_id={on_a.ready['session_id']}&resume_token={on_a.ready['resume_token']}&last_seq=0"
        async with visitor(node_b.ws, pg_tenant.id, query=query) as on_b:
            await on_a.say("before the outage")
            assert seqs(await on_b.until(lambda f: f.get("seq") == 1)) == [1]

            own_redis.stop()
            await wait_health(node_a, 503, timeout=10)
            for n in range(3):
                await on_a.say(f"during the outage {n}")
            # Stored and shown on node A at once: the store does not need Redis.
            assert seqs(await on_a.until(lambda f: f.get("seq") == 4)) == [1, 2, 3, 4]

            own_redis.start()
            back_a = await wait_health(node_a, 200, timeout=10)
            back_b = await wait_health(node_b, 200, timeout=10)
            assert max(back_a, back_b) < 5, "every node resubscribes within 5 s after Redis returns"
            await on_a.say("after the outage")
            frames = await on_b.until(lambda f: f.get("seq") == 5, timeout=10)
            assert seqs(frames) == [2, 3, 4, 5], "node B backfilled from the store, in order, no duplicates"
            await on_b.send({"type": "ping"})
            assert (await on_b.recv())["type"] == "pong", "nothing else was pending: no duplicate arrived"


async def test_health_is_503_while_redis_is_down(
    two_nodes: tuple[HubProcess, HubProcess], own_redis: RedisServer
) -> None:
    node_a, _ = two_nodes
    own_redis.stop()
    await wait_health(node_a, 503, timeout=10)
    async with httpx.AsyncClient() as client:
        report = (await client.get(f"{node_a.http}/api/health")).json()
    assert report["ok"] is False and report["redis"]["ok"] is False and report["database"]["ok"] is True
    own_redis.start()
    await wait_health(node_a, 200, timeout=10)


async def test_deaf_subscriber_is_detected_and_reopened_within_seconds(own_redis: RedisServer, sqlite_url: str) -> None:
    relay = await Proxy("127.0.0.1", own_redis.port).start_proxy()
    settings = Settings(
        database_url=sqlite_url,
        redis_url=f"redis://127.0.0.1:{relay.port}/0",
        secret_key=SECRET,
        secret_key_is_ephemeral=False,
        password_hashing=TEST_PASSWORD_HASHING,
    )
    try:
        async with serve_hub(settings) as hub:
            broker = hub.node.broker
            assert isinstance(broker, RedisBroker)
            assert broker.reconnects == 0
            relay.freeze()  # open, but nothing passes, and nobody closes: new connections work
            started = time.monotonic()
            while broker.reconnects == 0 and time.monotonic() - started < 10:
                await asyncio.sleep(0.1)
            assert broker.reconnects >= 1, "the deaf subscriber was never reopened"
            assert time.monotonic() - started < 6
    finally:
        await relay.stop()


async def test_a_partition_longer_than_a_node_keeps_its_publishes_is_caught_up_by_the_other_nodes(
    own_redis: RedisServer, postgres_url: str, pg_tenant: Tenant
) -> None:
    base = Settings(
        database_url=postgres_url,
        secret_key=SECRET,
        secret_key_is_ephemeral=False,
        password_hashing=TEST_PASSWORD_HASHING,
        ai_provider="none",
        shutdown_grace_s=0,
    )
    async with proxy_to("127.0.0.1", own_redis.port) as partition:
        cut_off = dataclasses.replace(base, redis_url=f"redis://127.0.0.1:{partition.port}/0", node_id="node-a")
        async with serve_hub(cut_off) as hub_a, serve_hub(dataclasses.replace(base, redis_url=own_redis.url)) as hub_b:
            broker_a = hub_a.node.broker
            assert isinstance(broker_a, RedisBroker)
            broker_a.stale_after_s = 2.0  # node A keeps publishes 10 s by default: the test waits less
            async with visitor(hub_a.ws, pg_tenant.id) as on_a:
                query = f"session_id={on_a.ready['session_id']}&resume_token={on_a.ready['resume_token']}&last_seq=0"
                async with visitor(hub_b.ws, pg_tenant.id, query=query) as on_b:
                    await on_a.say("before")
                    assert seqs(await on_b.until(lambda f: f.get("seq") == 1)) == [1]

                    partition.blackhole()  # node A alone loses Redis; node B's subscriber never breaks
                    await on_a.say("during")
                    assert seqs(await on_a.until(lambda f: f.get("seq") == 2))[-1] == 2, "stored and shown on A"
                    await asyncio.sleep(broker_a.stale_after_s + broker_a.pipeline_timeout_s + 1)
                    partition.heal()
                    # A quiet session: no later seq will ever reveal the gap to node B by itself.
                    frames = await on_b.until(lambda f: f.get("seq") == 2, timeout=20)
                    assert seqs(frames) == [2], "node B caught up from the store, once"
