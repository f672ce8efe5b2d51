"""What a benchmark run owns: its PostgreSQL database, its Redis key prefix, and the processes it starts.

Redis and PostgreSQL are the ones already running on 127.0.0.1; the run creates a database and a key
prefix of its own and removes exactly those at the end. Every process is started here, pinned to its
cores, and stopped by its own PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import psutil
from redis.asyncio import Redis

from hub.auth.passwords import Passwords
from hub.store.database import migrate, open_engine
from hub.store.tenants import create_tenant
from hub.store.users import create_user

NODE_START_TIMEOUT_S = 60.0

METRICS_TOKEN = "bench-metrics-of-loopback-nodes"  # 16 characters at least, as the hub asks


def openai_env(port: int) -> dict[str, str]:
    """A node's settings for the bench's fake OpenAI server on ``port`` (replies paced by it, not the hub)."""
    return {
        "HUB_AI_PROVIDER": "openai",
        "HUB_OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "HUB_OPENAI_API_KEY": "bench",
        "HUB_AI_TOKEN_DELAY_MS": "0",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_fd_limit() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard one (all an unprivileged process may do); children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1_048_576
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


LAYOUTS = ("shared", "split", "none")


@dataclass(frozen=True)
class Layout:
    """Which cores run hub node A, node B and the load generator (clients and the fake AI provider).

    ``shared`` (default): both nodes on the first half of the cores, the load generator on the other
    half, so the hub is measured on exactly the cores it gets. ``split``: node A alone, node B next
    to the load generator. ``none``: no pinning, the kernel decides.
    """

    name: str
    a_cpus: frozenset[int] | None
    b_cpus: frozenset[int] | None
    load_cpus: frozenset[int] | None

    @classmethod
    def choose(cls, name: str) -> Layout:
        cpus = sorted(os.sched_getaffinity(0))
        if name == "none" or len(cpus) < 2:
            return cls("none", None, None, None)
        half = max(1, len(cpus) // 2)
        first, second = frozenset(cpus[:half]), frozenset(cpus[half:])
        if name == "split":
            return cls(name, first, second, second)
        return cls("shared", first, first, second)

    @staticmethod
    def _text(cpus: frozenset[int] | None) -> str:
        return "any core" if cpus is None else "core " + ",".join(str(cpu) for cpu in sorted(cpus))

    def describe(self) -> list[str]:
        return [
            f"hub node A:                   {self._text(self.a_cpus)}",
            f"hub node B:                   {self._text(self.b_cpus)}",
            f"load generator + fake AI API: {self._text(self.load_cpus)}",
            "Redis and PostgreSQL:         system services, not pinned (the scheduler puts them on either core)",
        ]

    def node_cpus(self, name: str) -> frozenset[int] | None:
        return self.b_cpus if name == "B" else self.a_cpus

    def command(self, argv: list[str], cpus: frozenset[int] | None) -> list[str]:
        """Prefix ``taskset`` so the process and every worker it forks start on their cores."""
        taskset = shutil.which("taskset")
        if cpus is None or taskset is None:
            return argv
        return [taskset, "-c", ",".join(str(cpu) for cpu in sorted(cpus)), *argv]

    def pin_self(self) -> None:
        if self.load_cpus is not None:
            os.sched_setaffinity(0, self.load_cpus)


@dataclass
class Process:
    """A child process of the bench with its log in a temporary file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    process: subprocess.Popen[bytes] | None = None
    log_path: str = ""

    def start(self) -> None:
        log = tempfile.NamedTemporaryFile(prefix=f"bob-bench-{self.name}-", suffix=".log", delete=False)
        self.log_path = log.name
        self.process = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self, chars: int = 4000) -> str:
        if not self.log_path:
            return ""
        with contextlib.suppress(OSError):
            return Path(self.log_path).read_text(errors="replace")[-chars:]
        return ""

    def problems(self, limit: int = 4) -> list[str]:
        """The last warnings and errors the process logged (a worker restart, a failed query...)."""
        marks = ("ERROR", "CRITICAL", "WARNING", "Traceback", "died", "Error:")
        lines = [line.strip() for line in self.log(200_000).splitlines() if any(mark in line for mark in marks)]
        return [f"{self.name} logged: {line[:220]}" for line in lines[-limit:]]

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to our own PID (uvicorn's supervisor stops its workers), SIGKILL if it hangs."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log_path:
            with contextlib.suppress(OSError):
                os.unlink(self.log_path)
            self.log_path = ""


@dataclass
class Node(Process):
    """One ``bob-hub serve`` node; with several uvicorn workers, the workers are its children."""

    port: int = 0
    workers: int = 1

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def processes(self) -> list[psutil.Process]:
        """The processes that hold sockets: the server itself, or its workers when there are several."""
        main = psutil.Process(self.pid)
        if self.workers == 1:
            return [main]
        children = [child for child in main.children(recursive=True) if "multiprocessing" in " ".join(child.cmdline())]
        return [child for child in children if "resource_tracker" not in " ".join(child.cmdline())] or [main]

    def rss(self) -> int:
        return sum(process.memory_info().rss for process in self.processes())

    async def wait_healthy(self, timeout: float = NODE_START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise RuntimeError(f"node {self.name} exited:\n{self.log()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{self.port}/api/health")).status_code == 200:
                        if self.workers == 1 or len(self.processes()) >= self.workers:
                            return
                await asyncio.sleep(0.1)
        raise TimeoutError(f"node {self.name} not healthy after {timeout}s:\n{self.log()}")


@dataclass(frozen=True)
class BenchTenant:
    id: str
    business_id: str
    agent_emails: tuple[str, ...]
    password: str


@dataclass
class BenchEnv:
    """One run's database, Redis prefix and processes; ``close`` removes all of them."""

    postgres_server: str
    redis_url: str
    layout: Layout
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    workdir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="bob-bench-"))
    processes: list[Process] = field(default_factory=list)
    database_created: bool = False

    @property
    def database(self) -> str:
        return f"bobhub_bench_{self.run_id}"

    @property
    def redis_prefix(self) -> str:
        return f"bobbench-{self.run_id}"

    @property
    def database_url(self) -> str:
        return f"{self.postgres_server}/{self.database}"

    async def open(self) -> None:
        admin = await asyncpg.connect(f"{self.postgres_server}/postgres")
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
            self.database_created = True
        finally:
            await admin.close()
        engine = open_engine(self.database_url.replace("postgresql://", "postgresql+asyncpg://", 1))
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    async def close(self) -> None:
        self.stop_all()
        redis = Redis.from_url(self.redis_url)
        try:
            keys = [key async for key in redis.scan_iter(match=f"{self.redis_prefix}:*", count=1000)]
            for start in range(0, len(keys), 1000):
                await redis.delete(*keys[start : start + 1000])
        finally:
            await redis.aclose()
        if self.database_created:
            admin = await asyncpg.connect(f"{self.postgres_server}/postgres")
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
                self.database_created = False
            finally:
                await admin.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    async def tenant(self, label: str) -> str:
        return (await self.open_tenant(label)).id

    async def open_tenant(self, label: str, *, plan: str = "starter", agents: int = 0) -> BenchTenant:
        """A tenant of this run, with ``agents`` staff accounts (agent role) that log in with ``password``."""
        engine = open_engine(self.database_url.replace("postgresql://", "postgresql+asyncpg://", 1))
        password = secrets.token_urlsafe(12)
        password_hash = await Passwords("cheapest").hash(password)
        business_id = f"bench-{label}-{secrets.token_hex(3)}"
        # Staff emails are unique over the whole store: a scenario run again in this run's database (a phase
        # with steal is re-run) makes new ones.
        emails = [f"agent{number}@{business_id}.bench.example" for number in range(agents)]
        try:
            async with engine.begin() as connection:
                made = await create_tenant(connection, name=f"Bench {label}", business_id=business_id, plan=plan)
                for email in emails:
                    await create_user(
                        connection,
                        tenant_id=made.id,
                        email=email,
                        password_hash=password_hash,
                        role="agent",
                        name=email.split("@")[0],
                    )
        finally:
            await engine.dispose()
        return BenchTenant(made.id, made.business_id, tuple(emails), password)

    def node_env(self, **overrides: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
        env.update(
            {
                "HUB_DATABASE_URL": self.database_url,
                "HUB_REDIS_URL": self.redis_url,
                "HUB_REDIS_PREFIX": self.redis_prefix,
                "HUB_SECRET_KEY": self.secret,
                "HUB_METRICS_TOKEN": METRICS_TOKEN,  # the soak reads each node's /metrics
                "HUB_LOG_LEVEL": "warning",
                # The load comes from one address at rates no visitor sends: per-address, per-session and
                # per-socket abuse limits would measure the limiter, not the hub (nodes still count them).
                "HUB_RATE_LIMIT_ADDRESS": "1000000/second",
                "HUB_RATE_LIMIT_KEY": "1000000/second",
                "HUB_RATE_LIMIT_SESSION": "1000000/second",
                "HUB_RATE_LIMIT_SOCKET": "1000000/second",
                "HUB_RATE_LIMIT_SOCKET_FRAMES": "1000000/second",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(overrides)
        return env

    async def start_node(self, name: str, *, workers: int = 1, **env: str) -> Node:
        port = free_port()
        argv = [sys.executable, "-m", "hub.cli", "serve", "--port", str(port), "--workers", str(workers)]
        node = Node(
            name=name,
            argv=self.layout.command(argv, self.layout.node_cpus(name)),
            env=self.node_env(**env),
            cwd=self.workdir,
            port=port,
            workers=workers,
        )
        node.start()
        self.processes.append(node)
        await node.wait_healthy()
        return node

    async def start_fake_openai(self, rate: float) -> tuple[Process, int]:
        port = free_port()
        argv = [sys.executable, "-m", "bench.fake_openai", "--port", str(port), "--rate", str(rate)]
        env = {**os.environ, "PYTHONPATH": _project_root()}
        process = Process("fake-openai", self.layout.command(argv, self.layout.load_cpus), env, self.workdir)
        process.start()
        self.processes.append(process)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not process.alive():
                raise RuntimeError(f"fake OpenAI server exited:\n{process.log()}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return process, port
            await asyncio.sleep(0.05)
        raise TimeoutError("fake OpenAI server did not start")

    def stop_all(self) -> None:
        """Stop whatever a scenario left running (it stops its own on success, not when it crashes)."""
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    def stop(self, process: Process) -> list[str]:
        """Stop one process and return what it logged that looks wrong, for the scenario's notes."""
        problems = process.problems()
        process.stop()
        if process in self.processes:
            self.processes.remove(process)
        return problems


def _project_root() -> str:
    """The checkout holding ``bench``, so subprocesses import it whatever their working directory."""
    return str(Path(__file__).resolve().parent.parent)
