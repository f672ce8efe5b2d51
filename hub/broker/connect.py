"""Where a node's connections to Redis go, from ``HUB_REDIS_URL``: to the one server a ``redis://``,
``rediss://`` or ``unix://`` URL names, or to the server the Sentinels of a ``redis+sentinel://`` URL
(hub.broker.redis_url) name as the master now.

Behind Sentinel every new connection asks them first (redis-py's ``SentinelConnectionPool``), so after
a failover each connection that breaks is replaced by one to the new master: the publisher's, the
coordinator's and the throttle's, and the subscriber's, which asks through ``master_options`` each time
it reconnects. Every part that talks to Redis builds its pool here and closes this target with it.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, ConnectionPool
from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

from hub.broker.redis_url import is_sentinel_url, parse_sentinel_url

# Sentinels are asked in turn until one names the master: a silent one may hold the question this long.
SENTINEL_TIMEOUT_S = 1.0


class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """Connections to the master Sentinel names, waiting for a free one when all are in use."""


class RedisTarget:
    def __init__(self, url: str) -> None:
        self.url = url
        self.sentinel: Sentinel | None = None
        self.service_name = ""
        self._master_options: dict[str, Any] = {}  # what every connection to the master needs besides its address
        if is_sentinel_url(url):
            spec = parse_sentinel_url(url)
            tls: dict[str, Any] = {"ssl": True, **spec.tls_options} if spec.tls else {}
            self.service_name = spec.service_name
            self._master_options = {"db": spec.db, "username": spec.username, "password": spec.password, **tls}
            self.sentinel = Sentinel(
                spec.sentinels,
                sentinel_kwargs={
                    "username": spec.sentinel_username,
                    "password": spec.sentinel_password,
                    "socket_connect_timeout": SENTINEL_TIMEOUT_S,
                    "socket_timeout": SENTINEL_TIMEOUT_S,
                    **tls,
                },
            )

    def pool(self, *, blocking: bool = False, **options: Any) -> ConnectionPool:
        """A new pool of connections to the server (``options``: redis-py's connection and pool options)."""
        if self.sentinel is None:
            plain = BlockingConnectionPool if blocking else ConnectionPool
            return plain.from_url(self.url, **options)
        managed = BlockingSentinelConnectionPool if blocking else SentinelConnectionPool
        return managed(self.service_name, self.sentinel, **self._master_options, **options)  # type: ignore[no-untyped-call]

    async def master_options(self) -> dict[str, Any]:
        """How to open a connection of one's own to the server, as redis-py's ``parse_url`` says it for a
        URL: behind Sentinel, asked of them now (``MasterNotFoundError``, a ``ConnectionError``, when none knows)."""
        if self.sentinel is None:
            return dict(parse_url(self.url))
        host, port = await self.sentinel.discover_master(self.service_name)
        options = {"host": host, "port": port, **self._master_options}
        if options.pop("ssl", False):
            options["connection_class"] = SSLConnection
        return options

    async def aclose(self) -> None:
        """Close the connections to the Sentinels (each pool made here is closed by its owner)."""
        if self.sentinel is not None:
            await self.sentinel.aclose()
