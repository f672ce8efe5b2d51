"""Scenario "idle": one node holding many idle visitor sockets with keepalive pings on.

The node's RSS is read after a warm-up (so one-time imports and caches are not charged to sockets),
again once every socket is open and has been through at least one ping round, and once more after
they close. The clients live in helper processes (``bench.idle_worker``) on the load generator's
cores; only the node's memory is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import psutil

from bench.report import CpuMeter, ScenarioResult
from bench.services import BenchEnv, Node
from bench.wsclient import WsClient, connect

KIB_PER_SOCKET_TARGET = 24.0
FD_RESERVE = 256  # listening socket, epoll, Redis and PostgreSQL connections, logs, headroom
WARM_UP_SOCKETS = 300


@dataclass
class IdleConfig:
    sockets: int = 20_000
    hold_seconds: float = 15.0
    ping_interval_s: float = 10.0
    node_workers: int | None = None
    sockets_per_client_process: int = 10_000
    connects_in_flight: int = 64
    connect_deadline_s: float = 240.0


class Helper:
    """One ``bench.idle_worker`` process and its line protocol."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def read(self, timeout: float) -> dict[str, object]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise RuntimeError("an idle client process exited early")
        message: dict[str, object] = orjson.loads(line)
        return message

    async def until(self, key: str, timeout: float) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while True:
            message = await self.read(max(0.1, deadline - time.monotonic()))
            if key in message:
                return message

    def tell(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def _spawn_helpers(env: BenchEnv, url: str, config: IdleConfig) -> list[Helper]:
    count = math.ceil(config.sockets / config.sockets_per_client_process)
    share, extra = divmod(config.sockets, count)
    helpers = []
    project = str(Path(__file__).resolve().parent.parent)
    for index in range(count):
        argv = [
            sys.executable,
            "-m",
            "bench.idle_worker",
            "--url",
            url,
            "--count",
            str(share + (1 if index < extra else 0)),
            "--source",
            f"127.0.0.{index + 2}",
            "--concurrency",
            str(max(1, config.connects_in_flight // count)),
            "--deadline",
            f"{config.connect_deadline_s:g}",
        ]
        process = await asyncio.create_subprocess_exec(
            *env.layout.command(argv, env.layout.load_cpus),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": project},
        )
        helpers.append(Helper(process))
    return helpers


async def _warm_up(url: str) -> None:
    """Open and close some sockets so lazily built state (imports, caches, pools) exists before the baseline."""
    gate = asyncio.Semaphore(32)

    async def one() -> WsClient:
        async with gate:
            client, _ = await connect(url)
            return client

    clients = await asyncio.gather(*(one() for _ in range(WARM_UP_SOCKETS)))
    await asyncio.gather(*(client.close() for client in clients))


def _fds(node: Node) -> list[int]:
    counts = []
    for process in node.processes():
        with contextlib.suppress(psutil.Error):
            counts.append(process.num_fds())
    return counts


async def run(env: BenchEnv, config: IdleConfig, fd_limit: int) -> ScenarioResult:
    result = ScenarioResult("idle")
    workers = config.node_workers or max(1, math.ceil(config.sockets / max(1, fd_limit - FD_RESERVE)))
    node = await env.start_node(
        "A", workers=workers, HUB_AI_PROVIDER="none", HUB_WS_PING_INTERVAL_S=f"{config.ping_interval_s:g}"
    )
    tenant = await env.tenant("idle")
    url = f"{node.ws}/ws/visitor/{tenant}"
    await _warm_up(url)
    await asyncio.sleep(2.0)
    before = node.rss()
    fds_before = _fds(node)
    pids_before = sorted(process.pid for process in node.processes())

    helpers = await _spawn_helpers(env, url, config)
    try:
        began = time.monotonic()
        readies = await asyncio.gather(*(helper.until("ready", config.connect_deadline_s + 60) for helper in helpers))
        connect_seconds = time.monotonic() - began
        opened = sum(int(str(ready["ready"])) for ready in readies)
        failed = sum(int(str(ready["failed"])) for ready in readies)
        late = any(ready.get("late") for ready in readies)
        print(f"  {opened} sockets open in {connect_seconds:.1f}s ({failed} failed)", flush=True)

        clients = [psutil.Process(helper.process.pid) for helper in helpers]
        meter = CpuMeter({"node A": node.processes(), "idle clients": clients}, env.database)
        meter.start()
        peak = node.rss()
        hold_until = time.monotonic() + max(config.hold_seconds, 1.5 * config.ping_interval_s)
        while time.monotonic() < hold_until:
            await asyncio.sleep(1.0)
            peak = max(peak, node.rss())
        cpu = meter.stop()
        after = node.rss()
        fds_after = _fds(node)
        for helper in helpers:
            helper.tell("status")
        statuses = await asyncio.gather(*(helper.until("alive", 30) for helper in helpers))
        alive = sum(int(str(status["alive"])) for status in statuses)
        for helper in helpers:
            helper.tell("close")
        await asyncio.gather(*(helper.until("closed", 120) for helper in helpers))
    finally:
        await asyncio.gather(*(helper.stop() for helper in helpers))
    await asyncio.sleep(2.0)
    after_close = node.rss()
    restarted = sorted(process.pid for process in node.processes()) != pids_before
    problems = env.stop(node)

    per_socket = (after - before) / max(1, alive) / 1024
    mib = 1024 * 1024
    result.add(
        "idle sockets held by one node", f"{config.sockets}", f"{alive} open after the hold", alive == config.sockets
    )
    result.add(
        "node RSS before -> with sockets",
        "-",
        f"{before / mib:.0f} MiB -> {after / mib:.0f} MiB (peak {peak / mib:.0f})",
    )
    result.add("memory per idle socket", f"<= {KIB_PER_SOCKET_TARGET:g} KiB", f"{per_socket:.1f} KiB", per_socket <= 24)
    result.add("node RSS after all closed", "-", f"{after_close / mib:.0f} MiB")
    result.add("connect rate", "-", f"{opened / connect_seconds:.0f} sockets/s ({failed} failed)")
    result.notes.append(
        f"node A ran {workers} uvicorn worker process(es); fds per process before {fds_before}, with sockets "
        f"{fds_after}; RLIMIT_NOFILE {fd_limit}"
    )
    if late:
        result.notes.append(f"connects stopped at the {config.connect_deadline_s:g}s deadline: the node was slow")
    result.notes.append(f"holding, pings every {config.ping_interval_s:g}s: " + CpuMeter.text(cpu))
    if restarted:
        result.notes.append(
            "a node worker process was replaced during the run (uvicorn restarts a worker that misses its "
            "health ping): the sockets it held were lost"
        )
    result.notes.extend(problems)
    result.details = {
        "config": vars(config),
        "workers": workers,
        "rss_before": before,
        "rss_after": after,
        "rss_peak": peak,
        "rss_after_close": after_close,
        "alive": alive,
        "fds_after": fds_after,
        "cpu": cpu,
    }
    return result
