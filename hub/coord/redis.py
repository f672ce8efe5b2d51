"""Redis coordination: claims are keys set with ``PX`` and compared in Lua; presence is a sorted set
scored by expiry time, so a dead node's entries lapse without anyone cleaning up after it."""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hub.broker.connect import RedisTarget
from hub.coord.base import Coordinator
from hub.errors import Unavailable

# KEYS[1] claim; ARGV holder, ttl ms, force (1/0). Returns {taken, previous holder or ''}.
_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] or ARGV[3] == '1' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, current or ''}
end
return {0, current}
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
# KEYS[1] an expiring set; ARGV now (ms). Removes and returns lapsed members, atomically: one taker each.
_TAKE_LAPSED = """
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
if #lapsed > 0 then redis.call('ZREM', KEYS[1], unpack(lapsed)) end
return lapsed
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisCoordinator(Coordinator):
    def __init__(self, url: str) -> None:
        # A bounded pool that waits for a free connection: a burst of agents' commands never fails for lack of one.
        self._target = RedisTarget(url)
        pool = self._target.pool(
            blocking=True,
            max_connections=32,
            timeout=2,
            socket_connect_timeout=2,
            socket_timeout=2,
            health_check_interval=0,
        )
        self.redis = Redis(connection_pool=pool)
        self._claim = self.redis.register_script(_CLAIM)
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)
        self._take_lapsed = self.redis.register_script(_TAKE_LAPSED)

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise Unavailable("the hub cannot reach Redis to coordinate this change; retry shortly") from exc

    async def claim(self, key: str, holder: str, ttl_ms: int, *, force: bool = False) -> tuple[bool, str | None]:
        taken, previous = await self._call(self._claim, [key], [holder, ttl_ms, "1" if force else "0"])
        return bool(taken), _text(previous) or None

    async def renew(self, claims: list[tuple[str, str]], ttl_ms: int) -> list[bool]:
        if not claims:
            return []
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, holder in claims:
                    await self._renew(keys=[key], args=[holder, ttl_ms], client=pipe)
                results = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise Unavailable("the hub cannot reach Redis to renew takeover claims") from exc
        return [bool(renewed) for renewed in results]

    async def release(self, key: str, holder: str) -> bool:
        return bool(await self._call(self._release, [key], [holder]))

    async def holder(self, key: str) -> str | None:
        try:
            value = await self.redis.get(key)
        except (RedisError, OSError) as exc:
            raise Unavailable("the hub cannot reach Redis") from exc
        return _text(value) if value is not None else None

    async def expiring_touch(self, key: str, members: list[str], ttl_s: float, *, prune: bool = True) -> None:
        if not members:
            return
        now_ms = time.time() * 1000
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zadd(key, dict.fromkeys(members, now_ms + ttl_s * 1000))
                if prune:
                    pipe.zremrangebyscore(key, "-inf", now_ms)
                pipe.expire(key, int(ttl_s) + 60)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise Unavailable("the hub cannot reach Redis") from exc

    async def expiring_remove(self, key: str, members: list[str]) -> None:
        if members:
            await self.redis.zrem(key, *members)

    async def expiring_members(self, key: str) -> set[str]:
        raw = await self.redis.zrangebyscore(key, time.time() * 1000, "+inf")
        return {_text(member) for member in raw}

    async def take_lapsed(self, key: str) -> list[str]:
        try:
            taken = await self._take_lapsed(keys=[key], args=[time.time() * 1000])
        except (RedisError, OSError) as exc:
            raise Unavailable("the hub cannot reach Redis") from exc
        return [_text(member) for member in taken]

    async def aclose(self) -> None:
        await self.redis.aclose(close_connection_pool=True)
        await self._target.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
