"""The real ``bob-hub`` command line, run as a subprocess the way an operator runs it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from hub.cli import DEMO_CANNED
from hub.demo_conversations import DEMO_CONVERSATIONS, DEMO_LABELS
from hub.demo_knowledge import DEMO_KNOWLEDGE
from hub.push.vapid import load_private_key, public_key
from hub.settings import Settings
from tests.conftest import SECRET, serve_hub, visitor
from tests.old_hubs import fresh_database
from tests.services import TEST_PASSWORD_HASHING, free_port

# Variables the CLI reads; the test's own environment must not leak into the child's.
OWN_VARIABLES = ("PORT", "WEB_CONCURRENCY")


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("HUB_")}
    for name in OWN_VARIABLES:
        env.pop(name, None)
    env["HUB_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    env["HUB_PASSWORD_HASHING"] = TEST_PASSWORD_HASHING
    env.update(extra)
    return env


async def run_cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 30, stdin: bytes = b""
) -> Finished:
    """Standard input is a pipe carrying ``stdin``, never a terminal."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        *args,
        cwd=tmp_path,
        env=env if env is not None else cli_env(tmp_path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(stdin), timeout)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())


async def test_tenant_create_prints_one_json_object_with_uuid_and_business_id(tmp_path: Path) -> None:
    result = await run_cli(
        tmp_path,
        "tenant",
        "create",
        "--name",
        " Acme Shop ",
        "--business-id",
        "acme-shop",
        "--origin",
        "https://Shop.Example.com:443/",
        "--origin",
        "http://localhost:3000",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and result.stdout.endswith("}\n"), "exactly one line of JSON"
    tenant = json.loads(result.stdout)
    assert str(uuid.UUID(tenant["uuid"])) == tenant["uuid"]
    assert tenant["business_id"] == "acme-shop" and tenant["name"] == "Acme Shop"
    assert tenant["origins"] == ["https://shop.example.com", "http://localhost:3000"]
    assert tenant["widget_key"].startswith("pk_live_")
    with contextlib.closing(sqlite3.connect(tmp_path / "cli.sqlite3")) as db:
        assert db.execute("SELECT id, business_id FROM tenants").fetchall() == [(tenant["uuid"], "acme-shop")]
    secret = tmp_path / ".bob-hub-secret"
    assert secret.stat().st_mode & 0o777 == 0o600, "the generated secret is private to its owner"


async def test_duplicate_business_id_fails_with_a_clear_message_and_no_output(tmp_path: Path) -> None:
    first = await run_cli(tmp_path, "tenant", "create", "--name", "Acme", "--business-id", "acme")
    assert first.returncode == 0, first.stderr
    again = await run_cli(tmp_path, "tenant", "create", "--name", "Acme Two", "--business-id", "acme")
    assert again.returncode == 1 and again.stdout == ""
    assert "acme" in again.stderr and "already exists" in again.stderr
    assert "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--business-id", "Bad Slug!"), "business_id"),
        (("--business-id", "ab"), "business_id"),
        (("--business-id", "ok-slug", "--origin", "shop.example.com"), "origin"),
    ],
)
async def test_bad_tenant_input_fails_with_a_clear_message(
    tmp_path: Path, args: tuple[str, ...], fragment: str
) -> None:
    result = await run_cli(tmp_path, "tenant", "create", "--name", "Acme", *args)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("bob-hub: ") and fragment in result.stderr
    assert "Traceback" not in result.stderr


def user_create(email: str, *password: str) -> tuple[str, ...]:
    return ("user", "create", "--email", email, "--tenant", "shop", "--role", "agent", *password)


async def logs_in(tmp_path: Path, email: str, password: str) -> bool:
    """Whether a hub on the CLI's database lets this account log in with this password."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    settings = Settings(database_url=database_url, secret_key=SECRET, secret_key_is_ephemeral=False)
    async with serve_hub(settings) as hub, httpx.AsyncClient(base_url=hub.http) as client:
        response = await client.post("/api/auth/login", json={"email": email, "password": password})
    return response.status_code == 200


def in_terminal(tmp_path: Path, args: tuple[str, ...], dialog: list[tuple[str, str]], timeout: float = 30) -> Finished:
    """Run ``bob-hub`` on a pseudo-terminal of its own, typing each answer once its prompt is shown.

    The child gets a new session, so it can never reach the terminal pytest runs in. Its stdout and
    stderr share the terminal: everything it showed is in ``stdout``, as a person would see it.
    """
    master, child_side = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", *args],
        cwd=tmp_path,
        env=cli_env(tmp_path),
        stdin=child_side,
        stdout=child_side,
        stderr=child_side,
        start_new_session=True,
    )
    os.close(child_side)
    deadline = time.monotonic() + timeout
    screen = b""

    def read_some() -> bytes:
        ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError(f"bob-hub showed only {screen!r}")
        try:
            return os.read(master, 4096)
        except OSError:  # EIO: the child closed its side of the terminal
            return b""

    try:
        shown = 0
        for prompt, answer in dialog:
            while (found := screen.find(prompt.encode(), shown)) < 0:
                chunk = read_some()
                if not chunk:
                    raise AssertionError(f"no prompt {prompt!r} in {screen!r}")
                screen += chunk
            shown = found + len(prompt)
            os.write(master, answer.encode() + b"\n")
        while chunk := read_some():
            screen += chunk
        returncode = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    return Finished(returncode, screen.decode(errors="replace"), "")


async def test_user_create_reads_the_password_from_standard_input_for_scripts(tmp_path: Path) -> None:
    assert (await run_cli(tmp_path, "tenant", "create", "--name", "Shop", "--business-id", "shop")).returncode == 0
    piped = await run_cli(
        tmp_path, *user_create("ann@shop.example.com", "--password-stdin"), stdin=b"a piped pass phrase\n"
    )
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["email"] == "ann@shop.example.com"
    assert await logs_in(tmp_path, "ann@shop.example.com", "a piped pass phrase"), "only the line ending is dropped"
    empty = await run_cli(tmp_path, *user_create("bo@shop.example.com", "--password-stdin"), stdin=b"")
    assert empty.returncode == 1 and empty.stdout == ""
    assert "standard input" in empty.stderr and "Traceback" not in empty.stderr


async def test_user_create_without_a_terminal_or_password_option_explains_how_to_give_one(tmp_path: Path) -> None:
    refused = await run_cli(tmp_path, *user_create("ann@shop.example.com"))
    assert refused.returncode == 1 and refused.stdout == ""
    assert "--password-stdin" in refused.stderr and "Traceback" not in refused.stderr
    usage = await run_cli(tmp_path, "user", "create", "--help")
    assert "for scripts only: it lands in the shell's history" in " ".join(usage.stdout.split())
    both = await run_cli(tmp_path, *user_create("ann@shop.example.com", "--password", "x" * 12, "--password-stdin"))
    assert both.returncode == 2 and "not allowed with" in both.stderr


async def test_user_create_in_a_terminal_asks_for_the_password_twice_without_showing_it(tmp_path: Path) -> None:
    assert (await run_cli(tmp_path, "tenant", "create", "--name", "Shop", "--business-id", "shop")).returncode == 0
    typed = "typed-in-the-dark"
    dialog = [("Password: ", typed), ("Password again: ", typed)]
    made = await asyncio.to_thread(in_terminal, tmp_path, user_create("cy@shop.example.com"), dialog)
    assert made.returncode == 0, made.stdout
    assert typed not in made.stdout, "the terminal does not echo the password"
    assert '"email": "cy@shop.example.com"' in made.stdout
    assert await logs_in(tmp_path, "cy@shop.example.com", typed)


async def test_user_create_in_a_terminal_refuses_two_different_passwords(tmp_path: Path) -> None:
    assert (await run_cli(tmp_path, "tenant", "create", "--name", "Shop", "--business-id", "shop")).returncode == 0
    dialog = [("Password: ", "first-try-secret"), ("Password again: ", "second-try-secret")]
    refused = await asyncio.to_thread(in_terminal, tmp_path, user_create("cy@shop.example.com"), dialog)
    assert refused.returncode == 1 and "differ" in refused.stdout and "Traceback" not in refused.stdout
    with contextlib.closing(sqlite3.connect(tmp_path / "cli.sqlite3")) as db:
        assert db.execute("SELECT count(*) FROM users").fetchone() == (0,)


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        (("migrate",), "HUB_AI_TOKEN_DELAY_MS", "abc"),
        (("migrate",), "HUB_DATABASE_URL", "mysql://db/hub"),
        (("tenant", "create", "--name", "A", "--business-id", "acme"), "HUB_PUBLIC_URL", "https://[broken"),
        (("serve",), "PORT", "eighty"),
        (("serve",), "WEB_CONCURRENCY", "lots"),
    ],
)
async def test_bad_environment_exits_2_naming_the_variable(
    tmp_path: Path, command: tuple[str, ...], variable: str, value: str
) -> None:
    result = await run_cli(tmp_path, *command, env=cli_env(tmp_path, **{variable: value}))
    assert result.returncode == 2, result.stderr
    assert "configuration error" in result.stderr and variable in result.stderr
    assert "Traceback" not in result.stderr


async def test_serve_with_several_workers_refuses_to_start_without_redis(tmp_path: Path) -> None:
    result = await run_cli(tmp_path, "serve", "--workers", "2", "--port", str(free_port()))
    assert result.returncode == 2
    assert "HUB_REDIS_URL" in result.stderr and "workers" in result.stderr


async def test_serve_with_redis_refuses_an_ephemeral_secret(tmp_path: Path, redis_url: str) -> None:
    result = await run_cli(tmp_path, "serve", "--workers", "2", env=cli_env(tmp_path, HUB_REDIS_URL=redis_url))
    assert result.returncode == 2 and "HUB_SECRET_KEY" in result.stderr


async def test_migrate_creates_the_schema_on_postgresql_and_is_idempotent(tmp_path: Path, postgres_url: str) -> None:
    async with fresh_database(postgres_url) as async_url:
        database_url = async_url.replace("postgresql+asyncpg://", "postgres://")  # as an operator writes it
        env = cli_env(tmp_path, HUB_DATABASE_URL=database_url)
        for _ in range(2):
            result = await run_cli(tmp_path, "migrate", env=env)
            assert result.returncode == 0, result.stderr
            assert result.stdout == "" and "schema is up to date" in result.stderr
        created = await run_cli(tmp_path, "tenant", "create", "--name", "PG", "--business-id", "pg-shop", env=env)
        assert created.returncode == 0, created.stderr
        duplicate = await run_cli(tmp_path, "tenant", "create", "--name", "PG", "--business-id", "pg-shop", env=env)
        assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
        connection = await asyncpg.connect(database_url)
        try:
            tables = {
                row["tablename"]
                for row in await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            }
            version = await connection.fetchval("SELECT version_num FROM alembic_version")
            business_ids = [row["business_id"] for row in await connection.fetch("SELECT business_id FROM tenants")]
        finally:
            await connection.close()
        assert {
            "tenants",
            "chat_sessions",
            "messages",
            "users",
            "auth_tokens",
            "widget_keys",
            "alembic_version",
        } <= tables
        config = Config()
        config.set_main_option("script_location", "hub.store:migrations")
        assert version == ScriptDirectory.from_config(config).get_current_head(), "the newest migration"
        assert business_ids == ["pg-shop"]


DEMO_LINE = re.compile(r"demo tenant (?P<business_id>[a-z0-9-]+): uuid (?P<uuid>[0-9a-f-]{36})\s+visitor socket \S+")


@dataclass
class DemoNode:
    tenants: dict[str, str]  # business_id -> uuid, as printed at start
    ws: str
    health: dict[str, object]


@contextlib.asynccontextmanager
async def serve_demo(tmp_path: Path, run: int) -> AsyncIterator[DemoNode]:
    """``bob-hub serve --demo`` on a free port until healthy; stopped by SIGTERM to its PID."""
    port = free_port()
    log_path = tmp_path / f"serve-{run}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hub.cli",
            "serve",
            "--demo",
            "--port",
            str(port),
            cwd=tmp_path,
            env=cli_env(tmp_path, HUB_LOG_LEVEL="warning"),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        health: dict[str, object] = {}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=1) as client:
            for _ in range(300):
                assert process.returncode is None, log_path.read_text()
                with contextlib.suppress(httpx.TransportError):
                    response = await client.get("/api/health")
                    if response.status_code == 200:
                        health = response.json()
                        break
                await asyncio.sleep(0.05)
        assert health.get("ok") is True, log_path.read_text()
        tenants = {match["business_id"]: match["uuid"] for match in DEMO_LINE.finditer(log_path.read_text())}
        yield DemoNode(tenants, f"ws://127.0.0.1:{port}", health)
    finally:
        if process.returncode is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
                raise
    # Uvicorn shuts down gracefully, then re-raises the SIGTERM it caught, as a well-behaved daemon does.
    assert process.returncode in (0, -signal.SIGTERM), log_path.read_text()
    assert "Traceback" not in log_path.read_text()


async def test_serve_demo_creates_demo_tenants_idempotently_and_keeps_sessions_resumable_across_restarts(
    tmp_path: Path,
) -> None:
    async with serve_demo(tmp_path, 1) as first:
        assert set(first.tenants) == {"office16852-platform", "business"}
        assert first.health["database"] == {"ok": True, "backend": "sqlite", "writer": {"ok": True}}
        async with visitor(first.ws, first.tenants["business"]) as client:
            await client.say("hello")
            await client.ai_reply()
            session_id, token = client.ready["session_id"], client.ready["resume_token"]
        async with visitor(first.ws, first.tenants["business"]) as asking:
            # The demo's knowledge answers with no API key: a question, in either language, not a greeting.
            await asking.say("Hi! Do you repair e-bikes?")
            assert (await asking.ai_reply())[-1]["text"].startswith("Yes, we repair and service e-bikes")
            await asking.say("Cześć, ile kosztuje naprawa?")
            assert "kosztuje 180 zł" in (await asking.ai_reply())[-1]["text"]
    async with serve_demo(tmp_path, 2) as second:
        assert second.tenants == first.tenants, "a restart finds the demo tenants instead of creating new ones"
        # No HUB_SECRET_KEY: the node keeps the secret it generated, so a resume token survives the restart.
        query = f"session_id={session_id}&resume_token={token}&last_seq=1"
        async with visitor(second.ws, second.tenants["business"], query=query) as again:
            assert again.ready["session_id"] == session_id and again.ready["seq"] == 2
            replayed = await again.recv()
            assert replayed["seq"] == 2 and replayed["role"] == "ai"
        # The page's two demo accounts log in, each on its own tenant; created once, not per start.
        async with httpx.AsyncClient(base_url=second.ws.replace("ws://", "http://")) as http:
            for email, password, business_id, name in (
                ("admin@office16852.com", "your_password", "office16852-platform", "Sam from Office16852"),
                ("customer@business.com", "customer_password", "business", "Alex from Business Demo"),
            ):
                login = await http.post("/api/auth/login", json={"email": email, "password": password})
                assert login.status_code == 200, login.text
                assert login.json()["user"]["business_id"] == business_id
                assert login.json()["user"]["name"] == name  # what visitors read, not the email's "customer"
            admin = await http.post(
                "/api/auth/login", json={"email": "admin@office16852.com", "password": "your_password"}
            )
            assert admin.json()["user"]["platform_admin"] is True
            # Mission Control's label filter has the demo's labels, and each finds a demo conversation.
            owner = {"Authorization": f"Bearer {login.json()['token']}"}
            labels = {
                label["name"]: label["id"] for label in (await http.get("/api/labels", headers=owner)).json()["labels"]
            }
            assert set(labels) == {name for name, _ in DEMO_LABELS}
            for name in ("Billing", "Repair", "VIP", "Reklamacja"):
                found = await http.get("/api/chat/sessions", params={"label_id": labels[name]}, headers=owner)
                assert found.json()["sessions"], f"no demo conversation carries {name}"
    with contextlib.closing(sqlite3.connect(tmp_path / "cli.sqlite3")) as db:
        rows = db.execute("SELECT business_id, id, origins FROM tenants ORDER BY business_id").fetchall()
        (entries,) = db.execute("SELECT count(*) FROM knowledge").fetchone()
        (canned,) = db.execute("SELECT count(*) FROM canned_replies").fetchone()
        (labelled,) = db.execute("SELECT count(*) FROM session_labels").fetchone()
        (demo_labels,) = db.execute("SELECT count(*) FROM labels").fetchone()
    assert entries == sum(map(len, DEMO_KNOWLEDGE.values())), "the demo's knowledge is written once, not per start"
    assert canned == 2 * len(DEMO_CANNED), "each demo tenant's canned replies are written once, not per start"
    assert demo_labels == 2 * len(DEMO_LABELS), "each demo tenant's labels are written once, not per start"
    assert labelled == sum(len(c.labels) for c in DEMO_CONVERSATIONS["business"]), "demo conversations: once"
    assert [(row[0], row[1]) for row in rows] == sorted(first.tenants.items())
    assert "http://localhost:*" in json.loads(rows[0][2])


async def test_vapid_generate_prints_a_key_pair_the_hub_accepts_in_both_forms(tmp_path: Path) -> None:
    result = await run_cli(tmp_path, "vapid", "generate")
    assert result.returncode == 0, result.stderr
    keys = json.loads(result.stdout)
    assert set(keys) == {"private_key", "private_key_pem", "public_key"}
    assert not (tmp_path / ".bob-hub-secret").exists(), "no settings, no database, no files: only the keys"
    for given in (keys["private_key"], keys["private_key_pem"], keys["private_key_pem"].replace("\n", "\\n")):
        env = {"HUB_VAPID_PRIVATE_KEY": given, "HUB_VAPID_SUBJECT": "mailto:ops@example.com"}
        settings = Settings.from_env(env)
        assert public_key(load_private_key(settings.vapid_private_key or "")) == keys["public_key"]
    again = json.loads((await run_cli(tmp_path, "vapid", "generate")).stdout)
    assert again["private_key"] != keys["private_key"]
