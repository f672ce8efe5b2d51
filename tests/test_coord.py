"""One coordination contract, both backends: claims that expire unless renewed, and expiring presence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hub.coord.base import Coordinator
from hub.coord.memory import MemoryCoordinator
from hub.coord.redis import RedisCoordinator
from hub.errors import Unavailable
from hub.keys import Keys
from tests.services import RedisServer


@pytest.fixture(params=["memory", "redis"])
async def coordinators(
    request: pytest.FixtureRequest, redis_url: str, redis_prefix: str
) -> AsyncIterator[tuple[Coordinator, Coordinator, Keys]]:
    """Two coordinators of one backend, standing for two nodes."""
    if request.param == "memory":
        first = MemoryCoordinator()
        second = MemoryCoordinator(first.backplane)
    else:
        first, second = RedisCoordinator(redis_url), RedisCoordinator(redis_url)
    try:
        yield first, second, Keys(redis_prefix)
    finally:
        await first.aclose()
        await second.aclose()


async def test_claim_is_exclusive_and_names_the_holder(coordinators: tuple[Coordinator, Coordinator, Keys]) -> None:
    node_a, node_b, keys = coordinators
    key = keys.takeover_lock("t1", "s1")
    assert await node_a.claim(key, "u1 Anna", 5000) == (True, None)
    assert await node_b.claim(key, "u2 Ben", 5000) == (False, "u1 Anna")
    assert await node_b.claim(key, "u1 Anna", 5000) == (True, "u1 Anna"), "the same agent may claim again anywhere"
    assert await node_b.claim(key, "u2 Ben", 5000, force=True) == (True, "u1 Anna")
    assert await node_a.holder(key) == "u2 Ben"
    assert await node_a.release(key, "u1 Anna") is False, "only the holder releases"
    assert await node_a.release(key, "u2 Ben") is True
    assert await node_a.holder(key) is None


async def test_claim_lapses_unless_renewed_and_renewal_never_retakes(
    coordinators: tuple[Coordinator, Coordinator, Keys],
) -> None:
    node_a, node_b, keys = coordinators
    kept, lapsing = keys.takeover_lock("t1", "kept"), keys.takeover_lock("t1", "lapsing")
    await node_a.claim(kept, "u1 Anna", 300)
    await node_a.claim(lapsing, "u1 Anna", 300)
    for _ in range(4):
        await asyncio.sleep(0.1)
        assert await node_a.renew([(kept, "u1 Anna")], 300) == [True]
    assert await node_b.holder(kept) == "u1 Anna"
    assert await node_b.holder(lapsing) is None
    assert await node_a.renew([(lapsing, "u1 Anna")], 300) == [False], "a lapsed claim is not taken back"
    await node_b.claim(kept, "u2 Ben", 300, force=True)
    assert await node_a.renew([(kept, "u1 Anna")], 300) == [False]
    assert await node_a.holder(kept) == "u2 Ben"


async def test_presence_is_shared_and_expires(coordinators: tuple[Coordinator, Coordinator, Keys]) -> None:
    node_a, node_b, keys = coordinators
    key = keys.presence("t1")
    await node_a.expiring_touch(key, ["s1 node-a", "s2 node-a"], 0.3)
    await node_b.expiring_touch(key, ["s1 node-b"], 5)
    assert await node_b.expiring_members(key) == {"s1 node-a", "s2 node-a", "s1 node-b"}
    await node_b.expiring_remove(key, ["s1 node-b"])
    await asyncio.sleep(0.4)
    assert await node_b.expiring_members(key) == set(), "a dead node's members lapse by themselves"


async def test_a_lapsed_lease_is_taken_by_exactly_one_node(coordinators: tuple[Coordinator, Coordinator, Keys]) -> None:
    node_a, node_b, keys = coordinators
    key = keys.reply_leases()
    await node_a.expiring_touch(key, ["t1 s1 m1"], 0.3, prune=False)  # node A dies: never renewed
    await node_b.expiring_touch(key, ["t1 s2 m2"], 5, prune=False)
    assert await node_b.take_lapsed(key) == [], "nothing has lapsed yet"
    await asyncio.sleep(0.4)
    await node_b.expiring_touch(key, ["t1 s2 m2"], 5, prune=False)  # a renewal does not sweep the lapsed away
    taken = await asyncio.gather(node_a.take_lapsed(key), node_b.take_lapsed(key))
    assert sorted(taken, key=len) == [[], ["t1 s1 m1"]], "one taker"
    assert await node_b.take_lapsed(key) == []


async def test_unreachable_redis_is_a_clear_unavailable_error() -> None:
    server = RedisServer()
    server.start()
    coordinator = RedisCoordinator(server.url)
    try:
        assert (await coordinator.claim("k", "u1 Anna", 1000))[0] is True
        server.stop()
        with pytest.raises(Unavailable):
            await coordinator.claim("k", "u1 Anna", 1000)
        with pytest.raises(Unavailable):
            await coordinator.renew([("k", "u1 Anna")], 1000)
    finally:
        await coordinator.aclose()
        server.stop()
