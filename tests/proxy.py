"""A TCP proxy a test can cut, between a hub node and PostgreSQL or Redis (loopback only).

The network faults that matter are not a server that stops: a failover or a NAT timeout leaves the
old TCP connections open but silent forever, while new ones may work again. The proxy plays each:

- ``refuse()``: new connections are closed at once (what a stopped server looks like);
- ``blackhole()``: new connections are accepted and hear nothing, old ones stop moving bytes;
- ``freeze()``: the connections that exist stop moving bytes for good, new ones pass;
- ``cut()``: every existing connection is closed (a restart of the server behind);
- ``heal()``: new connections pass again (connections frozen before stay frozen: they are gone);
- ``slow_answers(seconds)``: what the server sends back is held that long (a query runs at once, its answer is
  late: a slow network or a loaded server, as its client sees it); ``slow_answers(0)`` ends it.

It runs in the test's own event loop, so a test's hub, clients and proxy share one clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Literal

Mode = Literal["pass", "refuse", "blackhole"]


class _Link:
    """One client connection and its upstream connection, pumped both ways until frozen or cut."""

    def __init__(self, client: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.client_reader, self.client_writer = client
        self.upstream_writer: asyncio.StreamWriter | None = None
        self.frozen = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: Callable[[], float] = lambda: 0.0
    ) -> None:
        try:
            while not self.frozen.is_set():
                data = await reader.read(65536)
                if not data or self.frozen.is_set():
                    break
                if (held := delay()) > 0:
                    await asyncio.sleep(held)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        if not self.frozen.is_set():  # a side closed: close the other (a frozen link just stays silent)
            self.close()

    def freeze(self) -> None:
        self.frozen.set()

    def close(self) -> None:
        for writer in (self.client_writer, self.upstream_writer):
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.transport.abort()


class Proxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode: Mode = "pass"
        self.answer_delay_s = 0.0
        self.links: set[_Link] = set()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def start_proxy(self) -> Proxy:
        await self.start()
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "refuse":
            writer.transport.abort()
            return
        link = _Link((reader, writer))
        self.links.add(link)
        if self.mode == "blackhole":
            link.freeze()  # accepted, and silent
            return
        try:
            upstream_reader, link.upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            link.close()
            self.links.discard(link)
            return
        link.tasks = [
            asyncio.create_task(link.pump(reader, link.upstream_writer)),
            asyncio.create_task(link.pump(upstream_reader, writer, lambda: self.answer_delay_s)),
        ]

    def url(self, scheme_and_auth: str, rest: str = "") -> str:
        """``postgresql://postgres@`` + ``/dbname`` -> a URL through this proxy."""
        return f"{scheme_and_auth}127.0.0.1:{self.port}{rest}"

    def refuse(self) -> None:
        self.mode = "refuse"

    def blackhole(self) -> None:
        self.mode = "blackhole"
        self.freeze()

    def freeze(self) -> None:
        """Existing connections go silent for good; new ones follow the mode."""
        for link in self.links:
            link.freeze()

    def cut(self) -> None:
        for link in list(self.links):
            link.freeze()
            link.close()
        self.links.clear()

    def heal(self) -> None:
        self.mode = "pass"

    def slow_answers(self, seconds: float) -> None:
        self.answer_delay_s = seconds

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for link in list(self.links):
            for task in link.tasks:
                task.cancel()


@contextlib.asynccontextmanager
async def proxy_to(host: str, port: int) -> AsyncIterator[Proxy]:
    proxy = Proxy(host, port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
