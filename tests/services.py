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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import redis
import trustme

# argon2's cheapest profile (HUB_PASSWORD_HASHING): test passwords protect nothing, and hashing each at
# production cost was a measured share of the suite's time.
TEST_PASSWORD_HASHING = "cheapest"


# Every server process a test starts is recorded here (its PID, the test process's PID, its command line). A test
# run killed before its cleanup (SIGKILL, a CI timeout) leaves its servers running, holding ports and PostgreSQL
# connections; the next run stops those whose test process is gone, and nothing else.
CHILDREN = Path(tempfile.gettempdir()) / "bob-hub-test-children"


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def spawn(args: list[Any], **options: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen``, recorded so that a later run stops the process if this one dies first."""
    process: subprocess.Popen[bytes] = subprocess.Popen(args, **options)
    CHILDREN.mkdir(exist_ok=True)
    (CHILDREN / str(process.pid)).write_text(f"{os.getpid()}\n{_command_line(process.pid)}")
    return process


def stop_orphans() -> list[int]:
    """Stop the servers of earlier test runs whose test process is gone; the PIDs stopped."""
    stopped = []
    for record in CHILDREN.glob("*") if CHILDREN.is_dir() else ():
        with contextlib.suppress(OSError, ValueError):
            owner, command = record.read_text().split("\n", 1)
            if Path(f"/proc/{int(owner)}").exists():
                continue  # its test run is still going
            pid = int(record.name)
            if command and _command_line(pid) == command:  # the same process, not a reused PID
                os.kill(pid, signal.SIGKILL)
                stopped.append(pid)
            record.unlink()
    return stopped


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
    args: list[str] = field(default_factory=list)  # more of redis-server's options, e.g. ``--replicaof``

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
        self.process = spawn(
            [binary, *listen, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + (["--requirepass", self.password] if self.password else [])
            + self.args,
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

    def kill(self) -> None:
        """SIGKILL: the server dies at once, as a crashed machine would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


SENTINEL_SERVICE = "bobhub"


@dataclass
class RedisSentinels:
    """A master, its replica and Sentinels watching them, all this test run's own (a test may kill the
    master). Sentinels are ``redis-server --sentinel`` (Debian's ``redis-sentinel`` is the same binary),
    tuned to act fast: the master is down after 1 s of silence and the failover retried within 6 s.

    ``password`` protects the master (and replica), ``sentinel_password`` the Sentinels; with ``tls``
    every server speaks TLS only (then without a replica)."""

    count: int = 3
    quorum: int = 2
    with_replica: bool = True
    password: str | None = None
    sentinel_password: str | None = None
    tls: RedisTLS | None = None
    master: RedisServer = field(default_factory=RedisServer)
    replica: RedisServer = field(default_factory=RedisServer)
    ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    directory: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="bob-sentinel-"))

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.ports)
        options = {"sentinel_password": self.sentinel_password} if self.sentinel_password else {}
        query = "&".join(part for part in (urlencode(options), self.tls.url_options() if self.tls else "") if part)
        scheme = "rediss+sentinel" if self.tls else "redis+sentinel"
        return f"{scheme}://{auth}{hosts}/{SENTINEL_SERVICE}/0" + (f"?{query}" if query else "")

    def start(self, timeout: float = 15.0) -> None:
        auth = ["--masterauth", self.password] if self.password else []
        # Without this delay a master waits 5 s for more replicas, to send them one snapshot.
        self.master.password, self.master.tls = self.password, self.tls
        self.master.args = ["--repl-diskless-sync-delay", "0"]
        self.master.start()
        if self.with_replica:
            assert self.tls is None, "a TLS replica is not set up here"
            replica_of = ["--replicaof", "127.0.0.1", str(self.master.port)]
            self.replica.password, self.replica.args = self.password, replica_of + auth
            self.replica.start()
            # Sentinels start once it is in sync, so their first look at the master lists it.
            self._wait(lambda: self._info(self.replica.port).get("master_link_status") == "up", timeout)
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        for _ in range(self.count):
            port = free_port()
            config = Path(self.directory) / f"sentinel-{port}.conf"  # Sentinel rewrites it: one file each
            lines = [f"port {port}", "bind 127.0.0.1", f"dir {self.directory}"]
            if self.tls is not None:
                tls = self.tls.directory
                lines = [f"tls-port {port}", "port 0", "bind 127.0.0.1", f"dir {self.directory}", "tls-replication yes"]
                lines += [f"tls-cert-file {tls}/server.pem", f"tls-key-file {tls}/server-key.pem"]
                lines += [f"tls-ca-cert-file {tls}/ca.pem"]
            if self.sentinel_password:
                lines.append(f"requirepass {self.sentinel_password}")
            lines += [
                f"sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {self.master.port} {self.quorum}",
                f"sentinel down-after-milliseconds {SENTINEL_SERVICE} 1000",
                f"sentinel failover-timeout {SENTINEL_SERVICE} 3000",
            ]
            if self.password:
                lines.append(f"sentinel auth-pass {SENTINEL_SERVICE} {self.password}")
            config.write_text("\n".join(lines) + "\n")
            self.ports.append(port)
            self.processes.append(
                spawn([binary, str(config), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        for port in self.ports:
            wait_for_port(port)
        # A failover needs Sentinels that know the replica and each other (they meet on the master every 2 s).
        self._wait(lambda: all(self._knows_everyone(port) for port in self.ports), timeout)

    def master_port(self) -> int:
        """The master's port as the Sentinels see it, once they agree."""
        ports = {self._sentinel_state(port)["port"] for port in self.ports}
        if len(ports) != 1:
            raise AssertionError(f"the Sentinels disagree on the master: {ports}")
        return int(ports.pop())

    def wait_for_new_master(self, old_port: int, timeout: float = 20.0) -> float:
        """Seconds until every Sentinel names a master other than ``old_port``."""
        return self._wait(lambda: all(self._sentinel_state(port)["port"] != old_port for port in self.ports), timeout)

    def cleanup(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        self.master.cleanup()
        self.replica.cleanup()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _client(self, port: int, password: str | None) -> redis.Redis:
        if self.tls is None:
            return redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=2)
        tls = self.tls.directory
        return redis.Redis(
            host="127.0.0.1",  # the name in the server's certificate
            port=port,
            password=password,
            socket_timeout=2,
            ssl=True,
            ssl_ca_certs=str(tls / "ca.pem"),
            ssl_certfile=str(tls / "client.pem"),
            ssl_keyfile=str(tls / "client-key.pem"),
        )

    def _knows_everyone(self, port: int) -> bool:
        state = self._sentinel_state(port)
        return state["num-slaves"] == int(self.with_replica) and state["num-other-sentinels"] == self.count - 1

    def _sentinel_state(self, port: int) -> dict[str, Any]:
        with self._client(port, self.sentinel_password) as client:
            state: dict[str, Any] = client.sentinel_master(SENTINEL_SERVICE)
        return state

    def _info(self, port: int) -> dict[str, Any]:
        with self._client(port, self.password) as client:
            info: dict[str, Any] = client.info("replication")
        return info

    @staticmethod
    def _wait(condition: Callable[[], bool], timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            with contextlib.suppress(redis.RedisError):
                if condition():
                    return time.monotonic() - started
            time.sleep(0.1)
        raise TimeoutError(f"Redis Sentinel: condition not met within {timeout}s")


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
        self.process = spawn(
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


@dataclass
class Nginx:
    """Debian's ``nginx`` as a process of this test's own, serving ``site``: what would go in
    ``/etc/nginx/conf.d/``, included in a minimal ``nginx.conf`` whose every path is in a temporary prefix."""

    site: str
    port: int  # where ``site`` listens
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bob-nginx-")))
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        (self.directory / "site.conf").write_text(self.site)
        kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        temp = "\n".join(f"    {kind}_temp_path {self.directory / kind};" for kind in kinds)
        (self.directory / "nginx.conf").write_text(
            f"worker_processes 1;\npid {self.directory / 'nginx.pid'};\nevents {{ worker_connections 1024; }}\n"
            f"http {{\n    access_log off;\n{temp}\n    include {self.directory / 'site.conf'};\n}}\n"
        )
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        files = ["-e", self.directory / "error.log", "-c", self.directory / "nginx.conf"]
        self.process = spawn(
            [binary, "-p", self.directory, *files, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(self.port, timeout=10)
        except TimeoutError:
            raise RuntimeError(f"nginx did not start:\n{self.error_log()}") from None

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def cleanup(self) -> None:
        if self.process is not None:
            self.process.terminate()  # nginx's fast shutdown
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)


def start_nodes(*nodes: HubProcess) -> None:
    """Start hub processes side by side (each start is mostly waiting for its health check)."""
    with ThreadPoolExecutor(len(nodes)) as pool:
        for started in [pool.submit(node.start) for node in nodes]:
            started.result()


@contextlib.contextmanager
def two_nodes(redis_url: str, postgres_url: str, env: dict[str, str]) -> Iterator[tuple[HubProcess, HubProcess]]:
    """Two hub processes sharing one Redis and one PostgreSQL; their Redis keys (a prefix of their own) go after."""
    prefix = f"bobtest-{os.urandom(4).hex()}"
    shared = {
        "HUB_DATABASE_URL": postgres_url,
        "HUB_REDIS_URL": redis_url,
        "HUB_REDIS_PREFIX": prefix,
        "HUB_LOG_LEVEL": "warning",
        **env,
    }
    node_a, node_b = HubProcess(shared), HubProcess(shared)
    node_a.start()
    node_b.start()
    try:
        yield node_a, node_b
    finally:
        node_a.stop()
        node_b.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()
