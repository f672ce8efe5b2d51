"""Real servers for the tests: Redis, PostgreSQL and hub nodes, started here when missing.

Redis and PostgreSQL on 127.0.0.1 are used when they answer (each run takes its own key prefix and
database and removes only those); otherwise a throwaway ``redis-server`` / ``initdb`` cluster is
started on a spare port. Hub nodes run as real ``bob-hub serve`` processes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
import trustme

# argon2's cheapest profile (HUB_PASSWORD_HASHING): test passwords protect nothing, and hashing each at
# production cost was a measured share of the suite's time.
TEST_PASSWORD_HASHING = "cheapest"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open("127.0.0.1", port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass(frozen=True)
class RedisTLS:
    """A private CA (made by trustme) with a certificate for a server on 127.0.0.1 and one for its clients."""

    directory: Path

    @classmethod
    def make(cls, directory: Path) -> RedisTLS:
        directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        ca.cert_pem.write_to_path(directory / "ca.pem")
        for name, identity in (("server", "127.0.0.1"), ("client", "bob-hub-node")):
            issued = ca.issue_cert(identity)
            issued.cert_chain_pems[0].write_to_path(directory / f"{name}.pem")
            issued.private_key_pem.write_to_path(directory / f"{name}-key.pem")
        return cls(directory)

    def server_args(self) -> list[str]:
        """Only TLS, and only clients with a certificate of this CA (``tls-auth-clients`` is on by default)."""
        return [
            "--port",
            "0",
            "--tls-cert-file",
            str(self.directory / "server.pem"),
            "--tls-key-file",
            str(self.directory / "server-key.pem"),
            "--tls-ca-cert-file",
            str(self.directory / "ca.pem"),
        ]

    def url_options(self) -> str:
        """What a client puts in a ``rediss://`` URL to trust this CA and show its own certificate."""
        return urlencode(
            {
                "ssl_ca_certs": self.directory / "ca.pem",
                "ssl_certfile": self.directory / "client.pem",
                "ssl_keyfile": self.directory / "client-key.pem",
            }
        )


@dataclass
class RedisServer:
    """A ``redis-server`` this test run owns: it may stop and restart it at will."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    directory: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="bob-redis-"))
    password: str | None = None
    tls: RedisTLS | None = None  # when set, the server speaks TLS only, on ``port``

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        if self.tls is not None:
            return f"rediss://{auth}127.0.0.1:{self.port}/0?{self.tls.url_options()}"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        listen = ["--port", str(self.port)]
        if self.tls is not None:
            listen = ["--tls-port", str(self.port), *self.tls.server_args()]
        self.process = subprocess.Popen(
            [binary, *listen, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + (["--requirepass", self.password] if self.password else []),
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def redis_for_tests() -> Iterator[str]:
    """The shared Redis at 127.0.0.1:6379 if it answers, else one of our own."""
    explicit = os.environ.get("HUB_TEST_REDIS_URL")
    if explicit:
        yield explicit
        return
    if port_open("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379/0"
        return
    server = RedisServer()
    server.start()
    try:
        yield server.url
    finally:
        server.cleanup()


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise FileNotFoundError(f"{name} not found: install PostgreSQL (tests/run.sh does)")


@contextlib.contextmanager
def _own_postgres() -> Iterator[str]:
    """A throwaway cluster (initdb + pg_ctl) on a spare port, as a non-root user when run as root."""
    directory = Path(tempfile.mkdtemp(prefix="bob-pg-"))
    data = directory / "data"
    port = free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root; the postgres package brings a "postgres" user.
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(directory, "postgres")
    subprocess.run(
        [*prefix, _pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [
            *prefix,
            _pg_bin("pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(directory / "log"),
            "-w",
            "-o",
            f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*prefix, _pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(directory, ignore_errors=True)


def _admin_sql(server_url: str, sql: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(f"{server_url}/postgres")
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run())


@contextlib.contextmanager
def postgres_for_tests() -> Iterator[str]:
    """A database of our own (``postgresql+asyncpg://…``), dropped afterwards."""
    explicit = os.environ.get("HUB_TEST_POSTGRES_URL")
    if explicit:
        server: contextlib.AbstractContextManager[str] = contextlib.nullcontext(explicit)
    elif port_open("127.0.0.1", 5432):
        server = contextlib.nullcontext("postgresql://postgres@127.0.0.1:5432")
    else:
        server = _own_postgres()
    with server as server_url:
        name = f"bobhub_test_{os.getpid()}_{int(time.time())}"
        _admin_sql(server_url, f'CREATE DATABASE "{name}"')
        try:
            yield f"{server_url.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
        finally:
            _admin_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class HubProcess:
    """One ``bob-hub serve`` node in its own process."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: str = ""

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        log = tempfile.NamedTemporaryFile(prefix="bob-hub-node-", suffix=".log", delete=False)
        self.log_path = log.name
        # No shutdown grace unless a test asks for one: stopping a node mid-reply must not cost seconds.
        env = {**os.environ, "HUB_PASSWORD_HASHING": TEST_PASSWORD_HASHING, "HUB_SHUTDOWN_GRACE_S": "0", **self.env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hub node exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.http}/api/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"hub node not healthy after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return Path(self.log_path).read_text(errors="replace")[-5000:] if self.log_path else ""

    def kill(self) -> None:
        """SIGKILL: the node dies without any cleanup, as a crashed machine would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log_path:
            with contextlib.suppress(OSError):
                os.unlink(self.log_path)
