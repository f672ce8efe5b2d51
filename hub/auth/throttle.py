"""Failed-login throttling with the ``limits`` library, shared through Redis when nodes run several."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool

from hub.broker.connect import RedisTarget


class Throttle:
    """Failed logins and request rates, counted with one limiter."""

    per_account: RateLimitItem = parse("5/minute")
    per_address: RateLimitItem = parse("30/minute")

    def __init__(self, redis_url: str | None, prefix: str) -> None:
        self.storage: Storage
        self._pool: ConnectionPool | None = None
        self._target: RedisTarget | None = None
        if redis_url:
            # Our own pool, so closing the node closes its connections too (limits never does); it says where
            # Redis is (one server, or the master Sentinel names), so limits reads only the scheme of the URI.
            self._target = RedisTarget(redis_url)
            self._pool = self._target.pool()
            self.storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix=f"{prefix}:limits",
                connection_pool=self._pool,  # type: ignore[arg-type]  # limits types its options loosely
            )
        else:
            self.storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(self.storage)

    def _checks(self, email: str, address: str) -> tuple[tuple[RateLimitItem, str], ...]:
        return ((self.per_account, f"account:{email}"), (self.per_address, f"address:{address}"))

    async def retry_after(self, email: str, address: str) -> int | None:
        """Seconds to wait before another attempt, or None when one is allowed now."""
        for item, key in self._checks(email, address):
            if not await self.limiter.test(item, "login", key):
                stats = await self.limiter.get_window_stats(item, "login", key)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None

    async def failed(self, email: str, address: str) -> None:
        for item, key in self._checks(email, address):
            await self.limiter.hit(item, "login", key)

    async def over_limit(self, limit: RateLimitItem, scope: str, key: str) -> int | None:
        """Count one request; seconds to wait when it is over ``limit``, else None."""
        if await self.limiter.hit(limit, scope, key):
            return None
        stats = await self.limiter.get_window_stats(limit, scope, key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def aclose(self) -> None:
        timer = getattr(self.storage, "timer", None)
        if timer is not None:
            timer.cancel()
        if self._pool is not None:
            await self._pool.disconnect()
        if self._target is not None:
            await self._target.aclose()
