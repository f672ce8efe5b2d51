"""A Redis that speaks only TLS, with a private CA and client certificates, as managed Redis services do.

Every part of a node reaches it from the one ``rediss://`` URL and the TLS options in its query
(``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``): the broker's publisher and its own subscriber
connection, the login throttle and the takeover coordinator.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio.connection import parse_url

from hub.auth.throttle import Throttle
from hub.broker import broker_from_url
from hub.broker.redis import RedisBroker
from hub.broker.subscription import Subscription
from hub.coord.redis import RedisCoordinator
from hub.keys import Keys
from hub.settings import Settings
from tests.conftest import SECRET, serve_hub
from tests.services import RedisServer, RedisTLS

PREFIX = "bobtest-tls"


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tls=RedisTLS.make(tmp_path / "tls"))
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
async def two_brokers(tls_redis: RedisServer) -> AsyncIterator[tuple[RedisBroker, RedisBroker]]:
    a = broker_from_url(tls_redis.url, prefix=PREFIX, node_id="node-a")
    b = broker_from_url(tls_redis.url, prefix=PREFIX, node_id="node-b")
    assert isinstance(a, RedisBroker) and isinstance(b, RedisBroker)
    try:
        yield a, b
    finally:
        await a.disconnect()
        await b.disconnect()


async def test_two_nodes_exchange_messages_and_share_buffers_over_tls_with_a_private_ca(
    two_brokers: tuple[RedisBroker, RedisBroker],
) -> None:
    a, b = two_brokers
    received: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    await a.connect(lambda channel, payload: None)
    await b.connect(lambda channel, payload: received.put_nowait((channel, payload)))
    for broker in (a, b):
        assert await broker.health() == {"ok": True, "backend": "redis", "subscriber": True}
    channel = Keys(PREFIX).session_channel("tenant-tls", "session-tls")
    await b.subscribe(channel)
    for _ in range(200):  # SUBSCRIBE is not acknowledged inline: wait until the server counts it
        if (await a.redis.pubsub_numsub(channel))[0][1] == 1:
            break
        await asyncio.sleep(0.01)
    a.publish(channel, b"hello over tls")
    assert await asyncio.wait_for(received.get(), timeout=5) == (channel, b"hello over tls")
    key = Keys(PREFIX).stream_buffer("tenant-tls", "session-tls")
    a.buffer_append(key, b"token", 30)
    assert await a.buffer_read(key) == [b"token"]
    assert await b.buffer_read(key) == [b"token"]


async def test_the_subscriber_verifies_the_server_unless_the_url_says_ssl_cert_reqs_none(
    tls_redis: RedisServer,
) -> None:
    address, options = tls_redis.url.split("?", 1)
    client_certificate = "&".join(option for option in options.split("&") if not option.startswith("ssl_ca_certs="))
    with pytest.raises(ssl.SSLCertVerificationError):
        await Subscription.open(parse_url(f"{address}?{client_certificate}"), timeout_s=5)
    unverified = await Subscription.open(parse_url(f"{address}?{client_certificate}&ssl_cert_reqs=none"), timeout_s=5)
    try:
        unverified.subscribe("bobtest-tls:room")
        assert await unverified.read() == [[b"subscribe", b"bobtest-tls:room", 1]]
    finally:
        await unverified.close()


async def test_login_throttle_and_takeover_claims_share_a_tls_redis(tls_redis: RedisServer) -> None:
    throttle = Throttle(tls_redis.url, PREFIX)
    coordinators = RedisCoordinator(tls_redis.url), RedisCoordinator(tls_redis.url)
    try:
        for _ in range(Throttle.per_account.amount):
            await throttle.failed("ann@shop.example.com", "192.0.2.1")
        assert await throttle.retry_after("ann@shop.example.com", "192.0.2.1") is not None
        key = Keys(PREFIX).takeover_lock("tenant-tls", "session-tls")
        assert await coordinators[0].claim(key, "u1 Anna", 5000) == (True, None)
        assert await coordinators[1].claim(key, "u2 Ben", 5000) == (False, "u1 Anna")
    finally:
        await throttle.aclose()
        for coordinator in coordinators:
            await coordinator.aclose()


async def test_a_node_on_a_tls_redis_is_healthy(tls_redis: RedisServer, sqlite_url: str) -> None:
    settings = Settings(
        database_url=sqlite_url,
        secret_key=SECRET,
        secret_key_is_ephemeral=False,
        redis_url=tls_redis.url,
        redis_prefix=PREFIX,
    )
    async with serve_hub(settings) as hub, httpx.AsyncClient(base_url=hub.http) as client:
        response = await client.get("/api/health")
    assert response.status_code == 200, response.text
    assert response.json()["redis"] == {"ok": True, "backend": "redis", "subscriber": True}
