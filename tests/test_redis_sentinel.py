"""Redis behind Sentinel: every part of a node finds the master through the Sentinels and follows a failover.

Real processes: a master, its replica and three Sentinels (quorum 2), all the test's own; two hub nodes on the
``redis+sentinel://`` URL and PostgreSQL. The master is killed mid conversation.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from hub.auth.throttle import Throttle
from hub.broker import broker_from_url
from hub.broker.redis import RedisBroker
from hub.coord.redis import RedisCoordinator
from hub.errors import Unavailable
from hub.keys import Keys
from hub.store.database import open_engine
from hub.store.models import Tenant
from tests.accounts import create_user
from tests.conftest import SECRET
from tests.services import HubProcess, RedisSentinels, RedisTLS, start_nodes
from tests.talker import Talker

PRESENCE_TTL_S = 3  # renewed every second: fresh marks on the new master show the coordinator followed


@pytest.fixture
def sentinels() -> Iterator[RedisSentinels]:
    group = RedisSentinels()
    try:
        group.start()
        yield group
    finally:
        group.cleanup()


@pytest.fixture
def two_nodes(sentinels: RedisSentinels, postgres_url: str) -> Iterator[tuple[HubProcess, HubProcess]]:
    env = {
        "HUB_DATABASE_URL": postgres_url,
        "HUB_REDIS_URL": sentinels.url,
        "HUB_SECRET_KEY": SECRET,
        "HUB_AI_PROVIDER": "none",
        "HUB_PRESENCE_TTL_S": str(PRESENCE_TTL_S),
        "HUB_LOG_LEVEL": "warning",
    }
    nodes = (HubProcess(env), HubProcess(env))
    try:
        start_nodes(*nodes)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


async def healthy(node: HubProcess, timeout: float) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(timeout):
        while True:
            try:
                if (await client.get(f"{node.http}/api/health", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)


async def test_nodes_follow_the_master_sentinel_promotes_and_lose_nothing(
    sentinels: RedisSentinels, two_nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant, postgres_url: str
) -> None:
    node_a, node_b = two_nodes
    on_a = await Talker(f"{node_a.ws}/ws/visitor/{pg_tenant.id}").connect()
    on_b = await Talker(f"{node_b.ws}/ws/visitor/{pg_tenant.id}").connect(join=on_a)
    talkers = (on_a, on_b)
    turn = 0

    async def say(count: int) -> int:
        """``count`` messages, alternately from each node's socket; the last seq."""
        nonlocal turn
        seq = 0
        for _ in range(count):
            seq = await talkers[turn % 2].say(f"message {turn}")
            turn += 1
        return seq

    await say(4)
    old_master = sentinels.master_port()
    killed_at = time.time()
    sentinels.master.kill()
    # Talk on through the failover: each message is stored and acknowledged by its own node at once.
    failover = asyncio.create_task(asyncio.to_thread(sentinels.wait_for_new_master, old_master))
    while not failover.done():
        await say(1)
        await asyncio.sleep(0.1)
    assert sentinels.master_port() == sentinels.replica.port
    await asyncio.gather(healthy(node_a, timeout=10), healthy(node_b, timeout=10))
    recovered_s = time.time() - killed_at

    # Through the new master, each message reaches the other node's socket at once: nothing else brings
    # it there in a quiet session (no later seq reveals a gap, no subscriber reconnects any more).
    for _ in range(4):
        seq = await say(1)
        await talkers[turn % 2].wait_for_seq(seq, timeout=2)  # the socket that did not send it
    for talker in talkers:
        talker.assert_whole(seq)
    assert on_a.reconnects == on_b.reconnects == 0, "no socket was closed by the failover"

    # The coordinator of each node renews its visitor's presence (every second) on the new master...
    async def renewed_since_the_kill() -> set[bytes]:
        async with Redis(port=sentinels.replica.port) as new_master:
            marks = await new_master.zrange(Keys("bob").presence(pg_tenant.id), 0, -1, withscores=True)
        return {member.split(b" ")[1] for member, expiry in marks if expiry / 1000 > killed_at + PRESENCE_TTL_S}

    async with asyncio.timeout(PRESENCE_TTL_S):
        while len(await renewed_since_the_kill()) < 2:
            await asyncio.sleep(0.1)
    for talker in talkers:
        await talker.close()
    # ...and the login throttle of each node counts there.
    engine = open_engine(postgres_url)
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    try:
        await create_user(engine, tenant_id=pg_tenant.id, email=email, password="right-password", role="agent")
    finally:
        await engine.dispose()
    async with httpx.AsyncClient() as client:
        for node in (node_a, node_b, node_a, node_b, node_a):
            wrong = await client.post(f"{node.http}/api/auth/login", json={"email": email, "password": "wrong"})
            assert wrong.status_code == 401
        right = {"email": email, "password": "right-password"}
        assert (await client.post(f"{node_b.http}/api/auth/login", json=right)).status_code == 429
    print(f"nodes healthy on the new master {recovered_s:.1f} s after the kill; {seq} messages, none lost")


async def test_every_part_of_a_node_reaches_the_master_through_sentinels_with_passwords_over_tls(
    tmp_path: Path,
) -> None:
    """The URL's password is the master's, ``sentinel_password`` the Sentinel's, its ``ssl_*`` options hold for both."""
    tls = RedisTLS.make(tmp_path)
    group = RedisSentinels(count=1, quorum=1, with_replica=False, password="m4", sentinel_password="s3", tls=tls)
    prefix, parts = "bobtest-sentinel", []
    try:
        group.start()
        a, b = (broker_from_url(group.url, prefix=prefix, node_id=node) for node in ("node-a", "node-b"))
        coordinator, throttle = RedisCoordinator(group.url), Throttle(group.url, prefix)
        parts = [a.disconnect, b.disconnect, coordinator.aclose, throttle.aclose]
        assert isinstance(a, RedisBroker) and isinstance(b, RedisBroker)
        received: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        await a.connect(lambda channel, payload: None)
        await b.connect(lambda channel, payload: received.put_nowait((channel, payload)))
        assert await a.health() == await b.health() == {"ok": True, "backend": "redis", "subscriber": True}
        await b.subscribe("bobtest-sentinel:room")
        while (await a.redis.pubsub_numsub("bobtest-sentinel:room"))[0][1] == 0:
            await asyncio.sleep(0.01)
        a.publish("bobtest-sentinel:room", b"hello")
        assert await asyncio.wait_for(received.get(), timeout=5) == ("bobtest-sentinel:room", b"hello")
        assert await coordinator.claim(f"{prefix}:claim", "u1 Anna", 5000) == (True, None)
        assert await throttle.over_limit(Throttle.per_account, "login", "ann") is None
        refused = RedisCoordinator(group.url.replace("sentinel_password=s3", "sentinel_password=s4"))
        parts.append(refused.aclose)
        with pytest.raises(Unavailable):  # the Sentinel does not answer without its own password
            await refused.claim(f"{prefix}:claim", "u2 Ben", 5000)
    finally:
        for close in parts:
            await close()
        group.cleanup()
