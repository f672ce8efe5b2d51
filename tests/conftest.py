from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
import uvicorn
import websockets
from playwright.async_api import Browser
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection

from hub.app import create_app
from hub.backplane import MemoryBackplane
from hub.node import Node
from hub.settings import Settings
from hub.store.database import migrate, open_engine
from hub.store.models import Tenant
from tests.accounts import create_tenant
from tests.browser import Chromium, launch_chromium, own_contexts
from tests.services import TEST_PASSWORD_HASHING, free_port, postgres_for_tests, redis_for_tests, stop_orphans
from tests.smtp_inbox import Inbox, mail_settings, smtp_server

SECRET = "test-secret-key-0123456789"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Servers left running by an earlier, killed test run are stopped before this one starts its own."""
    stop_orphans()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_for_tests() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_for_tests() as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Chromium, launched once per test process by the first test that asks for it (tests share the session's loop)."""
    async with launch_chromium() as launched:
        yield launched


@pytest.fixture
def chromium(browser: Browser) -> Chromium:
    """``async with chromium() as browser``: the shared Chromium; what the test opens in it is closed after."""
    return lambda: own_contexts(browser)


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards, nobody else's."""
    prefix = f"bobtest-{secrets.token_hex(4)}"
    yield prefix
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def pg_tenant(postgres_url: str) -> AsyncIterator[Tenant]:
    """A tenant in the shared test database, for tests whose hub nodes run on PostgreSQL."""
    engine = open_engine(postgres_url)
    await migrate(engine)
    try:
        yield await create_tenant(engine, name="Pg Test Shop", business_id=f"pg-{uuid.uuid4().hex[:12]}")
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest revision, migrated once per test process; each test gets a copy.

    A node still runs the migrations at start and finds the copy at head (about 0.02 s instead of 0.1 to
    0.2 s for the whole history). Migrating an empty database stays tested where it is the subject
    (test_store, test_cli) and here, once per run.
    """
    path = tmp_path_factory.mktemp("migrated") / "hub.sqlite3"

    async def make() -> None:
        engine = open_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await migrate(engine)
        finally:
            await engine.dispose()  # the last connection to close folds the WAL back into the file

    asyncio.run(make())
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    shutil.copyfile(migrated_sqlite, tmp_path / "hub.sqlite3")
    return f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}"


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    return Settings(
        database_url=sqlite_url,
        secret_key=SECRET,
        secret_key_is_ephemeral=False,
        password_hashing=TEST_PASSWORD_HASHING,
        shutdown_grace_s=0,  # a test that ends while a reply streams does not wait for it (graceful stops have a test)
    )


@dataclass
class RunningHub:
    """A hub served by uvicorn inside the test's event loop, on a real loopback port."""

    node: Node
    port: int

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def tenant(self, origins: tuple[str, ...] = (), **config: Any) -> Tenant:
        return await create_tenant(
            self.node.engine,
            name="Acme Test",
            business_id=f"acme-{uuid.uuid4().hex[:12]}",
            origins=origins,
            config=config,
        )


@contextlib.asynccontextmanager
async def serve_hub(
    settings: Settings,
    *,
    backplane: MemoryBackplane | None = None,
    port: int | None = None,
    **parts: Any,
) -> AsyncIterator[RunningHub]:
    """``port`` lets a test restart a hub where its clients will look for it; ``parts`` go to ``create_app``
    (``mailer``, ``clock``)."""
    app = create_app(settings, backplane=backplane, **parts)
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        ws_max_size=settings.max_frame_bytes,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        ws_ping_interval=settings.ws_ping_interval_s or None,
        ws_ping_timeout=settings.ws_ping_interval_s or None,
        lifespan="on",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield RunningHub(node=app.state.node, port=port)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[RunningHub]:
    async with serve_hub(settings) as running:
        yield running


@pytest.fixture
def shared_settings(settings: Settings, postgres_url: str, redis_url: str, redis_prefix: str) -> Settings:
    """This test's settings on the run's PostgreSQL and Redis (with its own key prefix): what the nodes of one
    deployment share."""
    return settings.with_overrides(database_url=postgres_url, redis_url=redis_url, redis_prefix=redis_prefix)


@contextlib.asynccontextmanager
async def two_hubs(settings: Settings) -> AsyncIterator[tuple[RunningHub, RunningHub]]:
    """Nodes A and B in this process on ``settings`` (``shared_settings``: one PostgreSQL and one Redis), as in
    production. ``tests.services.two_nodes`` starts them as processes, for a test that kills one."""
    async with (
        serve_hub(settings.with_overrides(node_id="node-a")) as node_a,
        serve_hub(settings.with_overrides(node_id="node-b")) as node_b,
    ):
        yield node_a, node_b


class Visitor:
    """A visitor's WebSocket, with helpers that read the protocol's frames."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.ready: dict[str, Any] = {}

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.connection.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), timeout=timeout)
        frame: dict[str, Any] = orjson.loads(raw)
        return frame

    async def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> list[dict[str, Any]]:
        """Every frame up to and including the first that matches."""
        frames = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(timeout=max(0.01, deadline - loop.time()))
            frames.append(frame)
            if predicate(frame):
                return frames

    async def say(self, text: str, client_id: str | None = None) -> None:
        await self.send({"type": "message", "text": text, "client_id": client_id or uuid.uuid4().hex})

    async def ai_reply(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        return await self.until(lambda f: f["type"] == "message" and f["role"] == "ai", timeout=timeout)

    async def close(self) -> None:
        await self.connection.close()


def is_ai_message(frame: dict[str, Any]) -> bool:
    return frame["type"] == "message" and frame["role"] == "ai"


def open_socket(url: str, headers: dict[str, str] | None = None) -> websockets.connect:
    """A test's WebSocket client: frames of any size, and no flow control (``max_queue=None``).

    A test may end with frames it never read. With websockets' default queue of 16 frames the client
    stops reading the connection once the queue is full, never sees the hub's closing handshake and
    waits out its 10 s ``close_timeout`` on the way out (that was 10 s of each of a dozen tests).
    """
    return websockets.connect(url, additional_headers=headers, max_size=None, max_queue=None)


@contextlib.asynccontextmanager
async def visitor(
    base_ws: str, tenant_id: str, *, origin: str | None = None, query: str = "", expect_ready: bool = True
) -> AsyncIterator[Visitor]:
    url = f"{base_ws}/ws/visitor/{tenant_id}" + (f"?{query}" if query else "")
    headers = {"Origin": origin} if origin else None
    async with open_socket(url, headers) as connection:
        client = Visitor(connection)
        if expect_ready:
            client.ready = await client.recv()
            assert client.ready["type"] == "ready"
        yield client


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """A local SMTP server (aiosmtpd) that keeps what it is sent."""
    with smtp_server() as running:
        yield running


@pytest.fixture
async def mail_hub(settings: Settings, inbox: Inbox) -> AsyncIterator[RunningHub]:
    """A hub that sends its email to ``inbox``."""
    port = free_port()
    async with serve_hub(mail_settings(settings, inbox, port), port=port) as running:
        yield running
