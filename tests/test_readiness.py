"""Readiness and liveness: ``/api/ready`` says whether to send a node traffic (no on SIGTERM, first of all, and
while its database, writer or Redis is unusable); ``/api/live`` only says the process answers."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from msgspec import UNSET
from websockets.exceptions import ConnectionClosed

from hub.api.health import Health, not_ready_because
from hub.settings import Settings
from hub.store.database import open_engine
from hub.store.models import Tenant
from tests.accounts import create_tenant
from tests.conftest import SECRET, RunningHub, serve_hub, visitor
from tests.proxy import Proxy, proxy_to
from tests.services import HubProcess


async def probe(base: str, path: str) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        response = await client.get(path)
    assert response.headers["cache-control"] == "no-store"
    return response.status_code, response.json()


async def until_ready(hub: RunningHub, status: int, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        got, body = await probe(hub.http, "/api/ready")
        if got == status:
            return body
        assert time.monotonic() < deadline, f"/api/ready never answered {status}: {body}"
        await asyncio.sleep(0.1)


async def test_a_healthy_node_is_ready_and_live(hub: RunningHub) -> None:
    assert await probe(hub.http, "/api/ready") == (200, {"ok": True, "node": hub.node.settings.node_id, "reasons": []})
    assert await probe(hub.http, "/api/live") == (200, {"ok": True, "node": hub.node.settings.node_id})


@pytest.fixture
async def proxied(
    settings: Settings, postgres_url: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[tuple[RunningHub, Proxy, Proxy]]:
    """A node whose PostgreSQL and Redis are both behind cuttable proxies."""
    database, redis = urlsplit(postgres_url), urlsplit(redis_url)
    async with (
        proxy_to(str(database.hostname), int(database.port or 5432)) as to_database,
        proxy_to(str(redis.hostname), int(redis.port or 6379)) as to_redis,
    ):
        node = dataclasses.replace(
            settings,
            database_url=postgres_url.replace(database.netloc.split("@")[-1], f"127.0.0.1:{to_database.port}", 1),
            redis_url=f"redis://127.0.0.1:{to_redis.port}/0",
            redis_prefix=redis_prefix,
            database_timeout_s=2.0,
        )
        async with serve_hub(node) as hub:
            yield hub, to_database, to_redis


async def test_ready_says_no_and_why_while_redis_or_the_database_is_away_and_live_stays_yes(
    proxied: tuple[RunningHub, Proxy, Proxy],
) -> None:
    hub, to_database, to_redis = proxied
    await until_ready(hub, 200)
    to_redis.refuse()
    to_redis.cut()
    body = await until_ready(hub, 503)
    assert "redis" in body["reasons"] and "draining" not in body["reasons"]
    assert (await probe(hub.http, "/api/live"))[0] == 200
    assert (await probe(hub.http, "/api/health"))[0] == 503, "one definition: health says no too"
    to_redis.heal()
    assert (await until_ready(hub, 200))["reasons"] == []
    to_database.refuse()
    to_database.cut()
    body = await until_ready(hub, 503)
    assert "database" in body["reasons"] and "redis" not in body["reasons"]
    assert (await probe(hub.http, "/api/live"))[0] == 200
    to_database.heal()
    await until_ready(hub, 200)


@pytest.mark.timeout(60)
async def test_sigterm_turns_readiness_off_first_then_the_node_stops_after_its_drain_time(sqlite_url: str) -> None:
    engine = open_engine(sqlite_url)
    try:
        tenant: Tenant = await create_tenant(engine, name="Drain Shop", business_id="drain-shop")
    finally:
        await engine.dispose()
    drain_s = 2.0
    node = HubProcess(
        {"HUB_DATABASE_URL": sqlite_url, "HUB_SECRET_KEY": SECRET, "HUB_DRAIN_S": str(drain_s), "HUB_LOG_LEVEL": "info"}
    )
    await asyncio.to_thread(node.start)
    try:
        assert (await probe(node.http, "/api/ready"))[0] == 200
        async with visitor(node.ws, tenant.id) as client:
            assert node.process is not None
            node.process.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            while (got := await probe(node.http, "/api/ready"))[0] != 503:
                assert time.monotonic() - sent < 1, got
                await asyncio.sleep(0.02)
            flipped = time.monotonic() - sent
            assert got[1]["reasons"] == ["draining"] and got[1]["ok"] is False
            # Nothing else has changed yet: the process answers, its parts are healthy, its sockets work.
            assert (await probe(node.http, "/api/live"))[0] == 200
            assert (await probe(node.http, "/api/health"))[0] == 200
            await client.send({"type": "ping"})
            assert (await client.recv())["type"] == "pong"
            # Then uvicorn's shutdown: the socket is closed with 1012 (service restart) after the drain time.
            with pytest.raises(ConnectionClosed) as closed:
                await client.recv(timeout=drain_s + 10)
            stopped = time.monotonic() - sent
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        assert flipped < 1 and drain_s - 0.5 < stopped < drain_s + 8, (flipped, stopped)
        await asyncio.to_thread(node.process.wait, 15)
    finally:
        await asyncio.to_thread(node.stop)


def test_each_failing_part_of_health_is_a_reason_not_to_be_ready() -> None:
    def report(**parts: Any) -> Health:
        fields: dict[str, Any] = {
            "ok": False,
            "node": "n",
            "database": {"ok": True, "backend": "postgresql", "writer": {"ok": True}},
            "redis": {"ok": True},
            "ai": {"ok": True},
            "sockets": 0,
            "ai_replies_streaming": 0,
            **parts,
        }
        return Health(**fields)

    stuck = {"ok": False, "backend": "postgresql", "writer": {"ok": False, "busy_s": 14.2}}
    assert not_ready_because(report(database=stuck)) == ["writer"]
    away = {"ok": False, "backend": "postgresql", "writer": {"ok": True}, "error": "TimeoutError"}
    assert not_ready_because(report(database=away)) == ["database"]
    assert not_ready_because(report(redis={"ok": False, "error": "ConnectionError"})) == ["redis"]
    no_redis = report(redis=UNSET, broker={"ok": False})
    assert not_ready_because(no_redis) == ["broker"]
    assert not_ready_because(report(ok=True)) == []
