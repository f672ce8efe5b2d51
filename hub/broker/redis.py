"""Redis pub/sub broker: one subscriber connection per node, one batching publisher.

The publisher drains an ordered queue into batches written on its own connection, so under load many
publishes share one write and round trip (at most one batch per 2 ms) and at rest each goes out at
once. The subscriber proves it still hears Redis by publishing to its own liveness channel every
second; a deaf or broken listener is reopened with backoff, resubscribes everything and calls
``on_resync`` so the hub backfills from the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from hiredis import ProtocolError, pack_command
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hub.broker.base import Broker, LostHandler, MessageHandler, ResyncHandler
from hub.broker.connect import RedisTarget
from hub.broker.subscription import Subscription
from hub.keys import Keys
from hub.metrics import Metrics
from hub.supervise import supervise

logger = logging.getLogger(__name__)

NETWORK_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError, asyncio.TimeoutError)

# An op is (kind, enqueued_at, key, value, extra): kept as plain tuples, this queue is on the hot path.
_PUBLISH, _APPEND, _CLEAR, _READ = 0, 1, 2, 3
Op = tuple[int, float, str, Any, Any]
# A shared buffer's TTL is set again at most this often, so it lies between its ttl and ttl minus this.
EXPIRE_REFRESH_S = 5.0


class DeafListener(Exception):
    """The subscriber stopped hearing its own liveness probes."""


class RedisBroker(Broker):
    probe_interval_s = 1.0
    deaf_after_s = 3.0
    max_backoff_s = 1.0
    stale_after_s = 10.0
    max_pending_ops = 200_000
    max_batch_ops = 1000
    pipeline_timeout_s = 5.0
    # A batch goes out at most this often: under load publishes wait up to 2 ms to share one write
    # (py-spy: the publisher's socket writes were a fifth of node A's CPU at 1,000 messages/s, one
    # write per message; loopback TCP does the receiving side's work in the sender's system call).
    min_flush_interval_s = 0.002

    def __init__(self, url: str, *, prefix: str, node_id: str, metrics: Metrics | None = None) -> None:
        self.url = url
        self.metrics = metrics or Metrics.unexposed()
        self._on_message: MessageHandler = _nowhere
        self._on_resync: ResyncHandler | None = None
        self._on_lost: LostHandler | None = None
        self._target = RedisTarget(url)
        self._redis: Redis | None = None
        self._subscription: Subscription | None = None
        self._channels: set[str] = set()
        self._ops: deque[Op] = deque()
        self._expiries: dict[str, float] = {}  # buffer key -> when the publisher last set its TTL
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._alive_channel = Keys(prefix).liveness_channel(node_id)
        self._listening = asyncio.Event()
        self._closing = False
        self.reconnects = 0

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("RedisBroker used before connect()")
        return self._redis

    async def connect(
        self,
        on_message: MessageHandler,
        on_resync: ResyncHandler | None = None,
        on_lost: LostHandler | None = None,
    ) -> None:
        self._on_message, self._on_resync, self._on_lost = on_message, on_resync, on_lost
        # No socket_timeout: redis-py would wrap every reply read of a pipeline in its own asyncio timeout
        # (measured: most of the publisher's CPU per token). The publisher bounds a whole pipeline instead.
        self._redis = Redis.from_pool(
            self._target.pool(socket_connect_timeout=2, socket_timeout=None, health_check_interval=0)
        )
        self._tasks = [
            asyncio.create_task(supervise("redis-publisher", self._publish_loop)),
            asyncio.create_task(supervise("redis-subscriber", self._subscribe_loop)),
        ]
        try:
            async with asyncio.timeout(5):
                await self._listening.wait()
        except TimeoutError:
            logger.warning("redis at %s not reachable yet; the subscriber keeps trying", self.url)

    async def disconnect(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._redis is not None:
            await self._redis.aclose()
        await self._target.aclose()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        if self._subscription is not None:  # else the subscriber loop subscribes it when it reconnects
            self._subscription.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        if self._subscription is not None:
            self._subscription.unsubscribe(channel)

    def _enqueue(self, op: Op) -> None:
        if len(self._ops) >= self.max_pending_ops:
            dropped = self._ops.popleft()
            logger.warning("redis publish queue full; dropped an op for %s", dropped[2])
            if dropped[0] == _PUBLISH:
                self.metrics.broker_dropped_full.inc()
                self._lost([dropped[2]])
        self._ops.append(op)
        self._wakeup.set()

    def publish(self, channel: str, payload: bytes) -> None:
        self._enqueue((_PUBLISH, asyncio.get_running_loop().time(), channel, payload, None))

    def buffer_append(self, key: str, item: bytes, ttl_s: int) -> None:
        self._enqueue((_APPEND, asyncio.get_running_loop().time(), key, item, ttl_s))

    def buffer_clear(self, key: str) -> None:
        self._enqueue((_CLEAR, asyncio.get_running_loop().time(), key, None, None))

    async def buffer_read(self, key: str) -> list[bytes]:
        loop = asyncio.get_running_loop()
        result: asyncio.Future[list[bytes]] = loop.create_future()
        self._enqueue((_READ, loop.time(), key, None, result))
        try:
            async with asyncio.timeout(2):
                return await result
        except (TimeoutError, *NETWORK_ERRORS):
            return []

    async def health(self) -> dict[str, object]:
        try:
            async with asyncio.timeout(1):
                await self.redis.ping()
        except (RedisError, *NETWORK_ERRORS) as exc:
            return {"ok": False, "backend": "redis", "error": type(exc).__name__}
        return {"ok": self._listening.is_set(), "backend": "redis", "subscriber": self._listening.is_set()}

    async def _publish_loop(self) -> None:
        backoff = 0.05
        loop = asyncio.get_running_loop()
        last_flush = 0.0
        connection: Connection | None = None
        lag = self.metrics.broker_publish_lag
        try:
            while True:
                await self._wakeup.wait()
                since = loop.time() - last_flush
                if since < self.min_flush_interval_s:
                    await asyncio.sleep(self.min_flush_interval_s - since)
                self._wakeup.clear()
                last_flush = loop.time()
                while self._ops:
                    count = min(len(self._ops), self.max_batch_ops)
                    batch = [self._ops.popleft() for _ in range(count)]
                    if len(self._expiries) > self.max_pending_ops:
                        self._expiries.clear()  # keys of replies whose clear never came: set their TTLs again
                    commands, reads = _commands(batch, self._expiries, last_flush)
                    try:
                        async with asyncio.timeout(self.pipeline_timeout_s):
                            if connection is None:
                                connection = await self.redis.connection_pool.get_connection()  # type: ignore[no-untyped-call]
                            results = await _send(connection, commands)
                    except NETWORK_ERRORS as exc:
                        logger.warning("redis publish failed (%s); retrying in %.2fs", type(exc).__name__, backoff)
                        await self._drop(connection)
                        connection = None
                        self._expiries.clear()  # the EXPIREs of this batch may not have run
                        self._requeue(batch)
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, self.max_backoff_s)
                        continue
                    backoff = 0.05
                    lag.observe(loop.time() - batch[0][1])  # the batch's oldest op: how far behind Redis is
                    for position, future in reads:
                        if not future.done():
                            result = results[position]
                            future.set_result(list(result) if isinstance(result, list) else [])
        finally:
            await self._drop(connection)

    async def _drop(self, connection: Connection | None) -> None:
        if connection is not None:
            await connection.disconnect()
            await self.redis.connection_pool.release(connection)

    def _requeue(self, batch: list[Op]) -> None:
        """Put a failed batch back in front, minus what went stale: the store backfills those, once the
        nodes that missed them are told which channels (``on_lost``)."""
        now = asyncio.get_running_loop().time()
        lost: set[str] = set()
        dropped = 0
        for op in reversed(batch):
            if op[0] == _READ:
                future: asyncio.Future[list[bytes]] = op[4]
                if not future.done():
                    future.set_result([])
            elif now - op[1] < self.stale_after_s:
                self._ops.appendleft(op)
            elif op[0] == _PUBLISH:
                lost.add(op[2])
                dropped += 1
        if dropped:
            self.metrics.broker_dropped_stale.inc(dropped)
        if lost:
            self._lost(sorted(lost))

    def _lost(self, channels: list[str]) -> None:
        logger.warning("redis publishes to %d channel(s) went stale and were dropped", len(channels))
        if self._on_lost is not None:
            self._on_lost(channels)

    async def _subscribe_loop(self) -> None:
        backoff = 0.1
        first = True
        loop = asyncio.get_running_loop()
        while not self._closing:
            subscription: Subscription | None = None
            try:
                # Behind Sentinel: the master it names now, so a reconnect after a failover finds the new one.
                options = await self._target.master_options()
                subscription = await Subscription.open(options, timeout_s=2)
                # Set before subscribing: a channel added meanwhile subscribes itself on this connection.
                self._subscription = subscription
                subscription.subscribe(self._alive_channel, *self._channels)
                self._listening.set()
                if not first:
                    self.reconnects += 1
                    where = options.get("path") or f"{options.get('host')}:{options.get('port')}"
                    logger.info("redis subscriber back on %s with %d channels; resyncing", where, len(self._channels))
                    if self._on_resync is not None:
                        await self._on_resync()
                first = False
                backoff = 0.1
                await self._listen(subscription, loop)
            except (DeafListener, ProtocolError, *NETWORK_ERRORS) as exc:
                logger.warning("redis subscriber lost (%s); reconnecting in %.1fs", type(exc).__name__, backoff)
            finally:
                self._subscription = None
                self._listening.clear()
                if subscription is not None:
                    await subscription.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)

    async def _listen(self, subscription: Subscription, loop: asyncio.AbstractEventLoop) -> None:
        alive = self._alive_channel.encode()
        last_heard = loop.time()
        next_probe = last_heard
        on_message = self._on_message
        while True:
            try:
                async with asyncio.timeout(0.25):
                    replies = await subscription.read()
            except TimeoutError:
                replies = []
            now = loop.time()
            for reply in replies:
                if type(reply) is list and len(reply) == 3 and reply[0] == b"message":
                    channel: bytes = reply[1]
                    if channel == alive:
                        last_heard = now
                    else:
                        on_message(channel.decode(), reply[2])
            if now >= next_probe:
                self.publish(self._alive_channel, b"1")
                next_probe = now + self.probe_interval_s
            if now - last_heard > self.deaf_after_s:
                raise DeafListener(f"no liveness probe heard for {now - last_heard:.1f}s")


async def _send(connection: Connection, commands: list[tuple[Any, ...]]) -> list[Any]:
    """Write a batch of commands as one buffer, then read their replies in order.

    Measured against redis-py's pipeline: 46 instead of 108 µs of CPU for two PUBLISHes, 109 instead
    of 313 for twenty (the pipeline builds and parses each command through several Python layers).
    A reply that is an error (a key of the wrong type) is returned, not raised: it fails one command.
    """
    await connection.send_packed_command(b"".join(pack_command(command) for command in commands), check_health=False)
    results: list[Any] = []
    for _ in commands:
        try:
            results.append(await connection.read_response())
        except ResponseError as exc:
            results.append(exc)
    return results


def _commands(
    batch: list[Op], expiries: dict[str, float], now: float
) -> tuple[list[tuple[Any, ...]], list[tuple[int, asyncio.Future[list[bytes]]]]]:
    """A batch's commands in order, and where each read's reply will be.

    Appends to one key in a row become one RPUSH (a streaming reply appends a token at a time, so a
    batch holds many per key); a clear or read of that key ends the run, so every command still sees
    exactly the appends queued before it. ``expiries`` (key -> when its TTL was last set) keeps the
    EXPIRE to one per key every ``EXPIRE_REFRESH_S``: per token it was a third of all commands.
    """
    runs: list[list[Any]] = []  # [kind, key, values or value, ttl or future]
    open_appends: dict[str, list[Any]] = {}
    for kind, _at, key, value, extra in batch:
        if kind == _APPEND:
            run = open_appends.get(key)
            if run is not None:
                run[2].append(value)
                run[3] = max(run[3], extra)
                continue
            run = [_APPEND, key, [value], extra]
            open_appends[key] = run
            runs.append(run)
        else:
            if kind != _PUBLISH:
                open_appends.pop(key, None)
            runs.append([kind, key, value, extra])
    commands: list[tuple[Any, ...]] = []
    reads: list[tuple[int, asyncio.Future[list[bytes]]]] = []
    for kind, key, value, extra in runs:
        if kind == _PUBLISH:
            commands.append((b"PUBLISH", key, value))
        elif kind == _APPEND:
            commands.append((b"RPUSH", key, *value))
            if now - expiries.get(key, -EXPIRE_REFRESH_S) >= EXPIRE_REFRESH_S:
                commands.append((b"EXPIRE", key, extra))
                expiries[key] = now
        elif kind == _CLEAR:
            commands.append((b"DEL", key))
            expiries.pop(key, None)
        else:
            reads.append((len(commands), extra))
            commands.append((b"LRANGE", key, 0, -1))
    return commands, reads


def _nowhere(channel: str, payload: bytes) -> None:
    return None
