"""A webhook receiver for the tests: a real HTTP server on loopback that verifies each delivery's
Standard Webhooks signature (with the ``standardwebhooks`` library, as a customer would)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook

from tests.services import free_port


@dataclass
class Receiver:
    port: int
    secret: str = ""
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)  # verified payloads, with "_id"
    rejected: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/bob"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            payload: dict[str, Any] = Webhook(self.secret).verify(body, dict(request.headers))
        except Exception:
            self.rejected += 1
            return web.Response(status=400)
        if self.status == 200:
            self.received.append({**payload, "_id": request.headers["webhook-id"]})
            self._changed.set()
        return web.Response(status=self.status)

    async def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10) -> None:
        async def until() -> None:
            while not predicate(self.received):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [event for event in self.received if event["type"] == event_type]


@contextlib.asynccontextmanager
async def receiver(port: int | None = None, secret: str = "") -> AsyncIterator[Receiver]:
    state = Receiver(port or free_port(), secret)
    app = web.Application()
    app.router.add_post("/hooks/bob", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", state.port)
    await site.start()
    try:
        yield state
    finally:
        await runner.cleanup()
