"""A helper process that opens many idle visitor sockets and keeps them open, answering pings.

One process cannot hold 20,000 sockets under a 20,000 file-descriptor limit, so the idle scenario
starts a few of these, each from its own loopback source address (``127.0.0.N``) so ephemeral
ports never run out. It talks to the bench over stdin/stdout, one JSON object per line:
``{"open": n}`` while connecting, ``{"ready": n, "failed": m, "late": bool}`` when done (or when
its connect deadline passed); then it answers
``status`` with ``{"alive": n}`` and ``close`` with ``{"closed": n}`` before exiting.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import orjson

import bench
from bench.services import raise_fd_limit
from bench.wsclient import WsClient, connect


def say(**fields: object) -> None:
    sys.stdout.write(orjson.dumps(fields).decode() + "\n")
    sys.stdout.flush()


async def hold(url: str, count: int, source: str, concurrency: int, deadline_s: float) -> None:
    clients: list[WsClient] = []
    failures: list[str] = []
    gate = asyncio.Semaphore(concurrency)
    last_report = time.monotonic()

    async def one() -> None:
        nonlocal last_report
        async with gate:
            try:
                client, _ = await connect(url, local_host=source, timeout=30)
            except Exception as exc:  # every failure is counted and its kind reported, none is fatal
                failures.append(type(exc).__name__)
                return
            clients.append(client)
            if time.monotonic() - last_report > 1.0:
                last_report = time.monotonic()
                say(open=len(clients))

    connecting = asyncio.gather(*(one() for _ in range(count)))
    late = False
    try:
        # Bounded: on a machine too busy to connect them all in time, hold what is open and say so.
        await asyncio.wait_for(connecting, deadline_s)
    except TimeoutError:
        late = True
    say(ready=len(clients), failed=len(failures), late=late, kinds=sorted(set(failures))[:5])
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if line == "status":
            say(alive=sum(1 for client in clients if client.is_open))
        elif line in ("close", ""):
            alive = sum(1 for client in clients if client.is_open)
            for start in range(0, len(clients), 500):
                await asyncio.gather(*(client.close(5.0) for client in clients[start : start + 500]))
            say(closed=alive)
            return


def main() -> None:
    parser = argparse.ArgumentParser(description="hold idle visitor sockets open")
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--source", default="127.0.0.1", help="local address to connect from")
    parser.add_argument("--concurrency", type=int, default=64, help="connects in flight at once")
    parser.add_argument("--deadline", type=float, default=240.0, help="seconds to stop connecting after")
    args = parser.parse_args()
    raise_fd_limit()
    bench.run(hold(args.url, args.count, args.source, args.concurrency, args.deadline))


if __name__ == "__main__":
    main()
