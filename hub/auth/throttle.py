"""Rate limits: the ``limits`` library's counters, shared through Redis when nodes run several, and a node's own.

Failed logins use moving windows (exact, few keys). Request rates (chat requests and visitor
messages, one key per conversation and per address) use the library's sliding window counter: two
counters per key instead of one entry per request, and measured on its in-memory storage with
3,000 keys and a trickle of 100 hits a second it cost 4% of a core where the moving window cost
70% (after each hit, that storage walks every key's entries, one thread hop per key). It may let
one request more through just after a window turns.

Visitor socket messages are counted on their node first (``over_limit_here_first``): a Redis round
trip for each of them cost more than the rest of the message's path (measured: 155-185 µs of a
node's CPU per message without limits, 400-439 µs with two Redis hits each, 200 sockets at once).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from functools import cache

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from redis.asyncio import ConnectionPool

from hub.broker.connect import RedisTarget

logger = logging.getLogger(__name__)

# The scopes a visitor's messages are counted in, by the HTTP chat paths and the visitor socket alike,
# so that neither is a way around the other's limits.
SESSION = "session"
ADDRESS = "address"

# A request rate the storage cannot count this fast is let through, and the node stops asking for a
# while: chat keeps working through a Redis outage, as the rest of the hub does (per-socket limits hold).
STORAGE_TIMEOUT_S = 0.5
STORAGE_RETRY_S = 5.0
# A key counted on this node reaches the shared counters once it has used this share of its limit here.
BUSY_SHARE = 0.25


@dataclass(frozen=True, slots=True)
class Rate:
    """``amount`` per ``period_s``, counted by one process (GCRA: one number of state per key).

    A burst of ``amount`` passes, then one more every ``period_s / amount``. The state is the time at
    which the whole amount is available again.
    """

    text: str
    amount: int
    period_s: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        item = parse(text)
        return cls(text, item.amount, float(item.get_expiry()))

    @property
    def interval_s(self) -> float:
        return self.period_s / self.amount

    def take(self, full_at: float, now: float) -> tuple[float, float]:
        """The new state and 0 when one more fits, else the unchanged state and the seconds until one does."""
        taken = max(full_at, now) + self.interval_s
        over = taken - now - self.period_s
        return (full_at, over) if over > 0 else (taken, 0.0)

    def used(self, full_at: float, now: float) -> float:
        """How much of the amount is in use (recent events, the older ones counting less)."""
        return max(0.0, full_at - now) / self.interval_s


_rate = cache(Rate.parse)
_item = cache(parse)  # settings hold rates as text; parse each once


class _Here:
    """A key's count on this node, and how much of it the shared counters have been told."""

    __slots__ = ("full_at", "told_to")

    def __init__(self) -> None:
        self.full_at = 0.0
        self.told_to = 0.0  # ``full_at`` when the shared counters were last told


def retry_in(seconds: float) -> int:
    """Whole seconds to wait, at least 1 (as ``Retry-After`` and ``retry_after`` say it)."""
    return max(1, math.ceil(seconds))


class Throttle:
    """Failed logins and request rates, counted in one storage (plus, for socket messages, on the node)."""

    per_account: RateLimitItem = parse("5/minute")
    per_address: RateLimitItem = parse("30/minute")

    def __init__(self, redis_url: str | None, prefix: str) -> None:
        self.storage: Storage
        self._pool: ConnectionPool | None = None
        self._target: RedisTarget | None = None
        if redis_url:
            # Our own pool, so closing the node closes its connections too (limits never does); it says where
            # Redis is (one server, or the master Sentinel names), so limits reads only the scheme of the URI.
            # A busy node checks many rates at once: they wait for one of its connections (redis-py's default
            # pool raises past 100). Bounded, so a Redis that stops answering fails a login check, not hangs it.
            self._target = RedisTarget(redis_url)
            self._pool = self._target.pool(
                blocking=True, max_connections=32, timeout=2.0, socket_timeout=2.0, socket_connect_timeout=2.0
            )
            self.storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix=f"{prefix}:limits",
                connection_pool=self._pool,  # type: ignore[arg-type]  # limits types its options loosely
            )
        else:
            self.storage = MemoryStorage()
        # Only a storage across the network can be away or slow: the node's own counters are never skipped
        # because the event loop was busy for a moment.
        self._timeout_s = STORAGE_TIMEOUT_S if redis_url else None
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.rates = SlidingWindowCounterRateLimiter(self.storage)
        self._uncounted_until = 0.0
        self._here: dict[tuple[str, str, str], _Here] = {}
        self._sweep_at = 1024

    def _checks(self, email: str, address: str) -> tuple[tuple[RateLimitItem, str], ...]:
        return ((self.per_account, f"account:{email}"), (self.per_address, f"address:{address}"))

    async def retry_after(self, email: str, address: str) -> int | None:
        """Seconds to wait before another attempt, or None when one is allowed now."""
        for item, key in self._checks(email, address):
            if not await self.limiter.test(item, "login", key):
                stats = await self.limiter.get_window_stats(item, "login", key)
                return retry_in(stats.reset_time - time.time())
        return None

    async def failed(self, email: str, address: str) -> None:
        for item, key in self._checks(email, address):
            await self.limiter.hit(item, "login", key)

    async def over_limit(self, limit: RateLimitItem, scope: str, key: str, cost: int = 1) -> int | None:
        """Count ``cost`` requests; seconds to wait when over ``limit``, else None (also when it cannot count)."""
        if time.monotonic() < self._uncounted_until:
            return None
        try:
            async with asyncio.timeout(self._timeout_s):
                if await self.rates.hit(limit, scope, key, cost=cost):
                    return None
                stats = await self.rates.get_window_stats(limit, scope, key)
        except Exception as exc:  # Redis down, cut off or slow: any failure to count means "not counted"
            self._uncounted_until = time.monotonic() + STORAGE_RETRY_S
            logger.warning("request rates go uncounted for %.0f s: the limit storage failed (%r)", STORAGE_RETRY_S, exc)
            return None
        return retry_in(stats.reset_time - time.time())

    async def over_limit_here_first(self, rate: str, scope: str, key: str) -> int | None:
        """Count one event on this node against ``rate``, and in the shared counters only when the key is busy here.

        On this node the limit is exact (a burst of the amount, then one more every period/amount). Once a key
        has used ``BUSY_SHARE`` of it here, each event is also counted in the shared counters (those the HTTP
        paths count in, in Redis when nodes run several), the recent ones before it in one go: a person
        chatting costs no Redis round trip, and together the nodes let a key pass its limit by at most
        ``BUSY_SHARE`` of it for each node where it stays below that.
        """
        limit, now = _rate(rate), time.monotonic()
        here = self._here.get((scope, key, rate))
        if here is None:
            if len(self._here) >= self._sweep_at:
                self._sweep(now)
            here = self._here[(scope, key, rate)] = _Here()
        busy = limit.used(here.full_at, now) >= BUSY_SHARE * limit.amount
        here.full_at, wait = limit.take(here.full_at, now)
        if wait:
            return retry_in(wait)
        if not busy:
            return None
        told_to = here.told_to
        untold = round((here.full_at - max(told_to, now)) / limit.interval_s)
        here.told_to = here.full_at  # before the await: events counted meanwhile are told by their own calls
        shared_wait = await self.over_limit(_item(rate), scope, key, cost=max(1, untold))
        if shared_wait is not None:
            # Refused: this event did not happen, and the ones before it are still to be told.
            here.full_at -= limit.interval_s
            here.told_to = min(here.told_to, told_to)
        return shared_wait

    def _sweep(self, now: float) -> None:
        """Forget the keys with nothing in use; sweeps get rarer as the number of keys grows."""
        for place in [place for place, here in self._here.items() if here.full_at <= now]:
            del self._here[place]
        self._sweep_at = max(1024, 2 * len(self._here))

    async def aclose(self) -> None:
        timer = getattr(self.storage, "timer", None)
        if timer is not None:
            timer.cancel()
        if self._pool is not None:
            await self._pool.disconnect()
        if self._target is not None:
            await self._target.aclose()
