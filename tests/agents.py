"""Agents in tests: accounts, login over HTTP, and a Mission Control WebSocket client."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection

from tests.accounts import create_user
from tests.conftest import open_socket

PASSWORD = "agent-pass-123"


async def agent_account(engine: AsyncEngine, tenant_id: str, name: str, role: str = "agent") -> str:
    """Create a staff account; returns its email (the password is ``PASSWORD``)."""
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@shop.example.com"
    await create_user(engine, tenant_id=tenant_id, email=email, password=PASSWORD, role=role, name=name)
    return email


async def login(http: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=http) as client:
        response = await client.post("/api/auth/login", json={"email": email, "password": password})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


class Agent:
    """An agent's socket, with helpers that read the protocol's frames."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.ready: dict[str, Any] = {}
        self.sessions: list[dict[str, Any]] = []
        self.labels: list[dict[str, Any]] = []  # the tenant's labels, as the snapshot gave them
        self.history: list[dict[str, Any]] = []  # every frame received, for looking back past a wait
        self._refs = 0

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.connection.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(self.connection.recv(), timeout=timeout))
        self.history.append(frame)
        return frame

    async def seen(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """The first frame received so far, or arriving next, that matches."""
        for frame in self.history:
            if predicate(frame):
                return frame
        return (await self.until(predicate, timeout))[-1]

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

    async def command(self, frame: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Send a frame with a fresh ``ref`` and return its ``ok`` or ``error`` answer."""
        self._refs += 1
        ref = f"r{self._refs}"
        await self.send({**frame, "ref": ref})
        frames = await self.until(lambda f: f.get("ref") == ref and f["type"] in ("ok", "error"), timeout)
        return frames[-1]

    async def watch(self, session_id: str, last_seq: int = 0) -> list[dict[str, Any]]:
        """Watch a session; returns the ``watching`` frame and the replay up to the ``ok`` (list patches left out)."""
        self._refs += 1
        ref = f"w{self._refs}"
        await self.send({"type": "watch", "session_id": session_id, "last_seq": last_seq, "ref": ref})
        frames = await self.until(lambda f: f.get("ref") == ref and f["type"] in ("ok", "error"))
        assert frames[-1]["type"] == "ok", frames[-1]
        return [frame for frame in frames[:-1] if frame["type"] != "session"]


@contextlib.asynccontextmanager
async def agent_socket(
    base_ws: str,
    *,
    token: str | None = None,
    cookie: str | None = None,
    origin: str | None = None,
    query: str = "",
    expect_ready: bool = True,
) -> AsyncIterator[Agent]:
    headers: dict[str, str] = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if cookie is not None:
        headers["Cookie"] = f"bob_session={cookie}"
    if origin is not None:
        headers["Origin"] = origin
    url = f"{base_ws}/ws/agent" + (f"?{query}" if query else "")
    async with open_socket(url, headers) as connection:
        client = Agent(connection)
        if expect_ready:
            client.ready = await client.recv()
            assert client.ready["type"] == "ready", client.ready
            snapshot = await client.recv()
            assert snapshot["type"] == "sessions", snapshot
            client.sessions = snapshot["sessions"]
            client.labels = snapshot["labels"]
        yield client


async def close_code(base_ws: str, **kwargs: Any) -> tuple[int | None, str]:
    """Connect and return how the hub closed the socket."""
    async with agent_socket(base_ws, expect_ready=False, **kwargs) as client:
        try:
            frame = await asyncio.wait_for(client.connection.recv(), timeout=5)
        except websockets.ConnectionClosed as closed:
            return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, "")
        raise AssertionError(f"the socket stayed open and sent {frame!r}")
