"""``python -m bench.widget_bundle``: the widget bundle's size and how fast one node serves it.

One hub node runs in this process (uvicorn on loopback, SQLite in a temporary directory, one tenant
with a widget key). The load comes from a child process (httpx, N requests at concurrency C), pinned
to the other cores when the machine has more than one, so that the client does not share the node's
core. Three cases: the full bundle gzipped (a first visit), uncompressed, and a revalidation with
``If-None-Match`` (a returning browser, answered ``304``). Prints one table and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import uvicorn

from hub.app import create_app
from hub.appearance import WidgetAppearance
from hub.bundle import render
from hub.settings import Settings
from hub.store.tenants import create_tenant
from hub.store.widget_keys import create_widget_key

BUDGET_GZIP_BYTES = 20 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_split() -> tuple[set[int] | None, set[int] | None]:
    """The node's core and the load generator's cores, or (None, None) on a one-core machine."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None, None
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


@contextlib.asynccontextmanager
async def _node(directory: Path) -> AsyncIterator[tuple[str, str]]:
    """A hub node on loopback; yields (base URL, tenant uuid)."""
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{directory / 'hub.sqlite3'}",
        secret_key="bench-widget-bundle-secret-key",
        secret_key_is_ephemeral=False,
        log_level="warning",
    )
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        engine = app.state.node.engine
        async with engine.begin() as connection:
            tenant = await create_tenant(
                connection,
                name="Bench Shop",
                business_id="bench-shop",
                config={"persona": {"name": "Bob"}},
            )
            await create_widget_key(connection, tenant.id, ["https://shop.example.com"])
        yield f"http://127.0.0.1:{port}", tenant.id
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)


async def _sizes(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        plain = await client.get(url, headers={"Accept-Encoding": "identity"})
        plain.raise_for_status()
        async with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
            gzipped = b"".join([chunk async for chunk in response.aiter_raw()])
    assert gzip.decompress(gzipped) == plain.content, "the gzip body is the same bundle"
    return {"raw": len(plain.content), "gzip": len(gzipped), "etag": plain.headers["etag"]}


def _render_ms(config_url: str) -> float:
    """The one-off cost of rendering a bundle for a new tenant configuration (what the cache saves)."""
    config = {
        "hubUrl": config_url,
        "tenantId": "bench",
        "assistant": "Bob",
        "appearance": msgspec.to_builtins(WidgetAppearance(greeting="Hi")),
    }
    rounds = 200
    started = time.perf_counter()
    for index in range(rounds):
        render({**config, "businessName": f"Shop {index}"})
    return (time.perf_counter() - started) * 1000 / rounds


# ---- the load generator (child process) ---------------------------------------------------------------


class _Tally:
    def __init__(self, requests: int) -> None:
        self.remaining = requests
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.bytes = 0

    def take(self) -> bool:
        self.remaining -= 1
        return self.remaining >= 0

    def done(self, started: float, status: int, body_bytes: int) -> None:
        self.latencies.append(time.perf_counter() - started)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.bytes += body_bytes


async def _httpx_workers(url: str, headers: dict[str, str], concurrency: int, tally: _Tally) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=30) as client:

        async def worker() -> None:
            while tally.take():
                started = time.perf_counter()
                async with client.stream("GET", url) as response:
                    size = sum([len(chunk) async for chunk in response.aiter_raw()])
                tally.done(started, response.status_code, size)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _raw_workers(url: str, headers: dict[str, str], concurrency: int, tally: _Tally) -> None:
    """Keep-alive HTTP/1.1 over asyncio streams: a much lighter client than httpx, so the node sets the pace."""
    parts = httpx.URL(url)
    lines = [f"GET {parts.raw_path.decode()} HTTP/1.1", f"Host: {parts.host}:{parts.port}"]
    request = ("\r\n".join([*lines, *(f"{name}: {value}" for name, value in headers.items())]) + "\r\n\r\n").encode()

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(parts.host, parts.port)
        try:
            while tally.take():
                started = time.perf_counter()
                writer.write(request)
                head = (await reader.readuntil(b"\r\n\r\n")).lower()
                status = int(head[9:12])
                at = head.find(b"\r\ncontent-length:")
                if at < 0 and status != 304:
                    raise RuntimeError("a response without Content-Length; this client only reads sized bodies")
                length = int(head[at + 17 : head.index(b"\r\n", at + 2)]) if at >= 0 else 0
                await reader.readexactly(length)
                tally.done(started, status, length)
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _load(url: str, headers: dict[str, str], requests: int, concurrency: int, use_httpx: bool) -> dict[str, Any]:
    tally = _Tally(requests)
    async with httpx.AsyncClient() as client:
        await client.get(url)  # the node's tenant cache is warm before the clock starts
    cpu_started = time.process_time()
    started = time.perf_counter()
    await (_httpx_workers if use_httpx else _raw_workers)(url, headers, concurrency, tally)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    latencies = sorted(tally.latencies)
    return {
        "seconds": seconds,
        "statuses": tally.statuses,
        "bytes": tally.bytes,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "client_cpu": cpu / seconds,
    }


def _client_main(args: argparse.Namespace) -> int:
    if args.cpus:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.cpus.split(",")})
    result = asyncio.run(_load(args.client, json.loads(args.headers), args.requests, args.concurrency, args.httpx))
    print(json.dumps(result))
    return 0


# ---- the run ------------------------------------------------------------------------------------------------


async def _phase(
    url: str, headers: dict[str, str], requests: int, concurrency: int, use_httpx: bool, client_cpus: set[int] | None
) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.widget_bundle", "--client", url, "--headers", json.dumps(headers)]
    argv += ["--requests", str(requests), "--concurrency", str(concurrency)]
    if use_httpx:
        argv.append("--httpx")
    if client_cpus is not None:
        argv += ["--cpus", ",".join(map(str, sorted(client_cpus)))]
    node_cpu_started = time.process_time()
    child = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
    try:
        out, _ = await asyncio.wait_for(child.communicate(), timeout=300)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise
    if child.returncode != 0:
        raise RuntimeError(f"the load generator failed with exit status {child.returncode}")
    result: dict[str, Any] = json.loads(out)
    # The node's CPU time per request: independent of what else the machine runs. It counts the child's warm-up
    # request too (one request in thousands), so it errs on the node's expensive side.
    result["node_us"] = (time.process_time() - node_cpu_started) / (requests + 1) * 1e6
    return result


async def _run(requests: int, concurrency: int, use_httpx: bool) -> None:
    node_cpus, client_cpus = _cpu_split()
    if node_cpus is not None:
        os.sched_setaffinity(0, node_cpus)
    with tempfile.TemporaryDirectory(prefix="bob-bench-widget-") as directory:
        async with _node(Path(directory)) as (base, tenant_id):
            url = f"{base}/widget/{tenant_id}/widget.js"
            sizes = await _sizes(url)
            cases = [
                ("first visit (gzip)", {"Accept-Encoding": "gzip"}, 200),
                ("first visit (identity)", {"Accept-Encoding": "identity"}, 200),
                ("revalidate (If-None-Match)", {"Accept-Encoding": "gzip", "If-None-Match": sizes["etag"]}, 304),
            ]
            rows = []
            for name, headers, expected in cases:
                result = await _phase(url, headers, requests, concurrency, use_httpx, client_cpus)
                ok = result["statuses"] == {str(expected): requests}
                rows.append((name, result, expected, ok))
    budget = "within" if sizes["gzip"] <= BUDGET_GZIP_BYTES else "OVER"
    print("Widget bundle: GET /widget/{tenant_uuid}/widget.js")
    print(f"  raw      {sizes['raw']:>8,} bytes")
    print(f"  gzipped  {sizes['gzip']:>8,} bytes  ({budget} the {BUDGET_GZIP_BYTES:,}-byte budget)")
    print(f"  render   {_render_ms(base):>8.2f} ms per new tenant configuration (then cached until it changes)")
    where = (
        f"node on CPU {','.join(map(str, sorted(node_cpus)))}, load generator on CPU "
        f"{','.join(map(str, sorted(client_cpus or ())))}"
        if node_cpus is not None
        else "node and load generator share the only CPU"
    )
    client = "httpx" if use_httpx else "keep-alive HTTP/1.1 on asyncio streams"
    print(
        f"\nOne node (uvicorn, 1 worker, SQLite), {requests:,} requests per case, {concurrency} concurrent ({client})"
    )
    print(f"{where}\n")
    header = (
        f"{'case':<28} {'status':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'MB/s':>7} "
        f"{'node µs/req':>12} {'≈ req/s/core':>13} {'client cpu':>11}"
    )
    print(header)
    print("-" * len(header))
    for name, result, expected, ok in rows:
        status = f"{expected}" if ok else "MIXED"
        print(
            f"{name:<28} {status:>8} {requests / result['seconds']:>8,.0f} {result['p50_ms']:>8.1f} "
            f"{result['p99_ms']:>8.1f} {result['bytes'] / result['seconds'] / 1e6:>7.1f} "
            f"{result['node_us']:>12.0f} {1e6 / result['node_us']:>13,.0f} {result['client_cpu']:>10.0%}"
        )
    if not all(ok for *_, ok in rows):
        for name, result, *_ in rows:
            print(f"  {name}: statuses {result['statuses']}")
        raise SystemExit(1)
    print(
        "\nreq/s: what this run achieved, with whatever else the machine was doing. node µs/req: the node's own CPU "
        "time per request;\n≈ req/s/core: what one node serves with a whole core to itself. A client CPU near 100% "
        "means the load generator set the pace."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.widget_bundle", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests per case (default 5000)")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight (default 50)")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--headers", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--cpus", help=argparse.SUPPRESS)
    parser.add_argument(
        "--httpx",
        action="store_true",
        help="load with httpx instead of the lighter built-in client (httpx saturates first)",
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be positive")
    if args.client:
        return _client_main(args)
    asyncio.run(_run(args.requests, args.concurrency, args.httpx))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
