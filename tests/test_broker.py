"""One broker contract, every backend: two connected brokers stand for two hub nodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from hub.auth.throttle import Throttle
from hub.backplane import MemoryBackplane
from hub.broker import broker_from_url
from hub.broker.base import Broker
from hub.broker.memory import MemoryBroker
from hub.broker.redis import _APPEND, _CLEAR, _PUBLISH, _READ, EXPIRE_REFRESH_S, Op, RedisBroker, _commands
from hub.coord.redis import RedisCoordinator
from hub.keys import Keys
from tests.services import RedisServer


@dataclass
class Inbox:
    """What one broker's handler received, in order."""

    received: list[tuple[str, bytes]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, channel: str, payload: bytes) -> None:
        self.received.append((channel, payload))
        self._changed.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, bytes]]:
        async def enough() -> None:
            while len(self.received) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.received

    def on(self, channel: str) -> list[bytes]:
        return [payload for name, payload in self.received if name == channel]


@dataclass
class Pair:
    """Two brokers of one backend, connected to the same server (or bus)."""

    backend: str
    a: Broker
    b: Broker
    inbox_a: Inbox
    inbox_b: Inbox
    prefix: str
    subscribers: Callable[[str], Awaitable[int]]

    def channel(self, name: str) -> str:
        return Keys(self.prefix).session_channel("tenant-" + name, "session-" + name)

    async def settled(self, channel: str, subscribers: int) -> None:
        """Wait until the server counts ``subscribers`` on ``channel``: SUBSCRIBE is not acknowledged inline."""
        for _ in range(200):
            if await self.subscribers(channel) == subscribers:
                return
            await asyncio.sleep(0.01)
        raise TimeoutError(f"{channel} never reached {subscribers} subscribers")


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def pair(backend: str, redis_url: str, redis_prefix: str) -> AsyncIterator[Pair]:
    prefix = redis_prefix
    client: Redis | None = None
    if backend == "memory":
        backplane = MemoryBackplane()
        a: Broker = MemoryBroker(backplane)
        b: Broker = MemoryBroker(backplane)

        async def subscribers(channel: str) -> int:
            return len(backplane.subscribers.get(channel, ()))

    else:
        a = broker_from_url(redis_url, prefix=prefix, node_id="node-a")
        b = broker_from_url(redis_url, prefix=prefix, node_id="node-b")
        assert isinstance(a, RedisBroker) and isinstance(b, RedisBroker)
        client = Redis.from_url(redis_url)

        async def subscribers(channel: str) -> int:
            assert client is not None
            counts = await client.pubsub_numsub(channel)
            return int(counts[0][1])

    inbox_a, inbox_b = Inbox(), Inbox()
    await a.connect(inbox_a)
    await b.connect(inbox_b)
    try:
        yield Pair(backend, a, b, inbox_a, inbox_b, prefix, subscribers)
    finally:
        await a.disconnect()
        await b.disconnect()
        if client is not None:
            await client.aclose()


async def test_a_message_published_on_one_node_reaches_a_subscriber_on_another_in_order(pair: Pair) -> None:
    channel = pair.channel("one")
    await pair.b.subscribe(channel)
    await pair.settled(channel, 1)
    for number in range(5):
        pair.a.publish(channel, b"frame %d" % number)
    received = await pair.inbox_b.wait_for(5)
    assert received == [(channel, b"frame %d" % number) for number in range(5)]
    assert pair.inbox_a.received == [], "a node that did not subscribe hears nothing"


async def test_a_publisher_subscribed_to_its_own_channel_hears_itself(pair: Pair) -> None:
    channel = pair.channel("echo")
    await pair.a.subscribe(channel)
    await pair.b.subscribe(channel)
    await pair.settled(channel, 2)
    pair.a.publish(channel, b"hello")
    assert await pair.inbox_a.wait_for(1) == [(channel, b"hello")]
    assert await pair.inbox_b.wait_for(1) == [(channel, b"hello")]


async def test_channels_are_separate(pair: Pair) -> None:
    mine, other = pair.channel("mine"), pair.channel("other")
    await pair.b.subscribe(mine)
    await pair.settled(mine, 1)
    pair.a.publish(other, b"not for b")
    pair.a.publish(mine, b"for b")
    assert await pair.inbox_b.wait_for(1) == [(mine, b"for b")]


async def test_unsubscribe_stops_delivery(pair: Pair) -> None:
    dropped, kept = pair.channel("dropped"), pair.channel("kept")
    await pair.b.subscribe(dropped)
    await pair.b.subscribe(kept)
    await pair.settled(dropped, 1)
    await pair.settled(kept, 1)
    pair.a.publish(dropped, b"before")
    await pair.inbox_b.wait_for(1)
    await pair.b.unsubscribe(dropped)
    await pair.settled(dropped, 0)
    pair.a.publish(dropped, b"after")
    pair.a.publish(kept, b"marker")
    await pair.inbox_b.wait_for(2)
    await asyncio.sleep(0.05)
    assert pair.inbox_b.received == [(dropped, b"before"), (kept, b"marker")]


async def test_resubscribing_after_unsubscribe_delivers_again(pair: Pair) -> None:
    channel = pair.channel("again")
    await pair.b.subscribe(channel)
    await pair.b.unsubscribe(channel)
    await pair.b.subscribe(channel)
    await pair.settled(channel, 1)
    pair.a.publish(channel, b"back")
    assert await pair.inbox_b.wait_for(1) == [(channel, b"back")]


async def test_a_burst_of_5000_publishes_arrives_complete_and_in_order(pair: Pair) -> None:
    channel = pair.channel("burst")
    await pair.b.subscribe(channel)
    await pair.settled(channel, 1)
    for number in range(5000):
        pair.a.publish(channel, b"%d" % number)
    received = await pair.inbox_b.wait_for(5000, timeout=20)
    assert [int(payload) for _, payload in received] == list(range(5000))


async def test_buffer_append_read_and_clear_are_shared_between_nodes(pair: Pair) -> None:
    key = Keys(pair.prefix).stream_buffer("tenant-x", "session-x")
    assert await pair.b.buffer_read(key) == []
    pair.a.buffer_append(key, b"message-id", 60)
    pair.a.buffer_append(key, b"Hello", 60)
    pair.a.buffer_append(key, b" world", 60)
    assert await pair.a.buffer_read(key) == [b"message-id", b"Hello", b" world"]
    assert await pair.b.buffer_read(key) == [b"message-id", b"Hello", b" world"], "another node reads the same"
    pair.b.buffer_append(key, b"!", 60)
    assert await pair.b.buffer_read(key) == [b"message-id", b"Hello", b" world", b"!"]
    pair.a.buffer_clear(key)
    assert await pair.a.buffer_read(key) == []
    assert await pair.b.buffer_read(key) == []


async def test_a_redis_stream_buffer_always_has_a_ttl_so_a_dead_nodes_reply_is_forgotten(
    redis_url: str, redis_prefix: str
) -> None:
    broker = broker_from_url(redis_url, prefix=redis_prefix, node_id="node-t")
    client = Redis.from_url(redis_url)
    key = Keys(redis_prefix).stream_buffer("tenant-t", "session-t")
    await broker.connect(Inbox())
    try:
        for round_ in range(3):  # appends, then a clear and appends again: each time the key has a TTL
            for number in range(20):
                broker.buffer_append(key, b"%d" % number, 30)
            await broker.buffer_read(key)
            assert 0 < await client.ttl(key) <= 30, f"round {round_}"
            broker.buffer_clear(key)
    finally:
        await broker.disconnect()
        await client.delete(key)
        await client.aclose()


async def test_buffer_read_sees_every_append_queued_before_it(pair: Pair) -> None:
    key = Keys(pair.prefix).stream_buffer("tenant-y", "session-y")
    for number in range(300):
        pair.a.buffer_append(key, b"%d" % number, 60)
    # No await between the appends and the read: the read must still see all of them.
    assert await pair.a.buffer_read(key) == [b"%d" % number for number in range(300)]
    pair.a.buffer_clear(key)
    pair.a.buffer_append(key, b"fresh", 60)
    assert await pair.a.buffer_read(key) == [b"fresh"], "a clear queued before an append is applied first"


async def test_buffer_appends_clears_and_reads_in_one_burst_keep_their_order(pair: Pair) -> None:
    """Appends to one key may share a command, but never move past a clear or read of that key."""
    first, second = (Keys(pair.prefix).stream_buffer("tenant-z", name) for name in ("s1", "s2"))
    pair.a.buffer_append(first, b"old-1", 60)
    pair.a.buffer_append(second, b"other", 60)
    pair.a.buffer_append(first, b"old-2", 60)
    early = asyncio.ensure_future(pair.a.buffer_read(first))
    await asyncio.sleep(0)  # the read is queued now, behind the appends and ahead of what follows
    pair.a.buffer_clear(first)
    pair.a.buffer_append(first, b"new-1", 60)
    pair.a.buffer_append(first, b"new-2", 60)
    assert await early == [b"old-1", b"old-2"]
    assert await pair.a.buffer_read(first) == [b"new-1", b"new-2"]
    assert await pair.b.buffer_read(second) == [b"other"]


async def test_buffer_appends_are_ordered_with_publishes(pair: Pair) -> None:
    """A node that hears a token frame and then reads the buffer finds that token in it."""
    channel = pair.channel("ordered")
    key = Keys(pair.prefix).stream_buffer("tenant-o", "session-o")
    await pair.b.subscribe(channel)
    await pair.settled(channel, 1)
    pair.a.buffer_append(key, b"token", 60)
    pair.a.publish(channel, b"token frame")
    await pair.inbox_b.wait_for(1)
    assert await pair.b.buffer_read(key) == [b"token"]


async def test_redis_buffer_expires_after_its_ttl(redis_url: str, redis_prefix: str) -> None:
    broker = RedisBroker(redis_url, prefix=redis_prefix, node_id="node-ttl")
    client = Redis.from_url(redis_url)
    await broker.connect(Inbox())
    try:
        key = Keys(redis_prefix).stream_buffer("tenant-t", "session-t")
        broker.buffer_append(key, b"x", 30)
        assert await broker.buffer_read(key) == [b"x"]
        assert 0 < await client.ttl(key) <= 30
    finally:
        await broker.disconnect()
        await client.aclose()


async def test_health_is_ok_when_connected(pair: Pair) -> None:
    for broker in (pair.a, pair.b):
        health = await broker.health()
        assert health["ok"] is True and health["backend"] == pair.backend


async def test_redis_with_a_password_carries_messages_and_a_wrong_one_is_reported_unhealthy(
    redis_prefix: str,
) -> None:
    server = RedisServer(password="s3cret-pass")
    server.start()
    brokers: list[Broker] = []
    try:
        a = broker_from_url(server.url, prefix=redis_prefix, node_id="node-a")
        b = broker_from_url(server.url, prefix=redis_prefix, node_id="node-b")
        brokers += [a, b]
        inbox = Inbox()
        await a.connect(Inbox())
        await b.connect(inbox)
        await b.subscribe("room")
        await asyncio.sleep(0.05)
        a.publish("room", b"hello")
        assert await inbox.wait_for(1) == [("room", b"hello")]
        wrong = broker_from_url(server.url.replace("s3cret-pass", "wrong"), prefix=redis_prefix, node_id="node-c")
        brokers.append(wrong)
        await wrong.connect(Inbox())  # waits up to 5 s for its subscriber, then goes on retrying
        assert (await wrong.health())["ok"] is False
    finally:
        for broker in brokers:
            await broker.disconnect()
        server.cleanup()


async def test_every_part_of_a_node_reaches_redis_over_a_unix_socket() -> None:
    server, prefix = RedisServer(), "bobtest-unix"
    socket_path = f"{server.directory}/redis.sock"
    server.args = ["--unixsocket", socket_path]
    server.start()
    url = f"unix://{socket_path}?db=0"
    a, b = (broker_from_url(url, prefix=prefix, node_id=node) for node in ("node-a", "node-b"))
    coordinator, throttle = RedisCoordinator(url), Throttle(url, prefix)
    try:
        inbox = Inbox()
        await a.connect(Inbox())
        await b.connect(inbox)
        await b.subscribe("room")
        await asyncio.sleep(0.05)
        a.publish("room", b"hello")
        assert await inbox.wait_for(1) == [("room", b"hello")]
        assert await coordinator.claim(f"{prefix}:claim", "u1 Anna", 5000) == (True, None)
        assert await throttle.over_limit(Throttle.per_account, "login", "ann") is None
    finally:
        for close in (a.disconnect, b.disconnect, coordinator.aclose, throttle.aclose):
            await close()
        server.cleanup()


def test_redis_batch_merges_appends_per_key_but_never_across_a_clear_or_read() -> None:
    loop = asyncio.new_event_loop()
    try:
        read = loop.create_future()
        batch = [
            (_APPEND, 0.0, "k1", b"a", 30),
            (_PUBLISH, 0.0, "ch", b"frame-a", None),
            (_APPEND, 0.0, "k2", b"x", 30),
            (_APPEND, 0.0, "k1", b"b", 30),
            (_READ, 0.0, "k1", None, read),
            (_APPEND, 0.0, "k1", b"c", 30),
            (_CLEAR, 0.0, "k2", None, None),
            (_APPEND, 0.0, "k2", b"y", 30),
        ]
        expiries: dict[str, float] = {}
        commands, reads = _commands(batch, expiries, now=100.0)
    finally:
        loop.close()
    assert commands == [
        (b"RPUSH", "k1", b"a", b"b"),
        (b"EXPIRE", "k1", 30),
        (b"PUBLISH", "ch", b"frame-a"),
        (b"RPUSH", "k2", b"x"),
        (b"EXPIRE", "k2", 30),
        (b"LRANGE", "k1", 0, -1),
        (b"RPUSH", "k1", b"c"),
        (b"DEL", "k2"),
        (b"RPUSH", "k2", b"y"),
        (b"EXPIRE", "k2", 30),
    ]
    assert reads == [(5, read)], "the read's result is the sixth reply of the batch"


def test_redis_buffer_ttl_is_set_on_the_first_append_after_a_clear_and_then_every_few_seconds() -> None:
    expiries: dict[str, float] = {}

    def appended(now: float, *ops: Op) -> list[tuple[object, ...]]:
        return _commands([op for op in ops], expiries, now)[0]

    append = (_APPEND, 0.0, "k", b"t", 30)
    assert appended(10.0, append) == [(b"RPUSH", "k", b"t"), (b"EXPIRE", "k", 30)]
    assert appended(10.0 + EXPIRE_REFRESH_S / 2, append) == [(b"RPUSH", "k", b"t")]
    assert appended(10.0 + EXPIRE_REFRESH_S, append) == [(b"RPUSH", "k", b"t"), (b"EXPIRE", "k", 30)]
    # A cleared key is created again by the next RPUSH, without a TTL: it gets one at once.
    assert appended(16.0, (_CLEAR, 0.0, "k", None, None), append) == [
        (b"DEL", "k"),
        (b"RPUSH", "k", b"t"),
        (b"EXPIRE", "k", 30),
    ]
