"""The real ``bob-hub`` command line, run as a subprocess the way an operator runs it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

from tests.conftest import visitor
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


async def run_cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 30) -> Finished:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        *args,
        cwd=tmp_path,
        env=env if env is not None else cli_env(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
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


@contextlib.asynccontextmanager
async def own_postgres_database(postgres_url: str) -> AsyncIterator[str]:
    """A fresh, empty database on the test server (plain ``postgres://`` URL), dropped afterwards."""
    server = postgres_url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0]
    name = f"bobhub_cli_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{server.replace('postgresql://', 'postgres://')}/{name}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_migrate_creates_the_schema_on_postgresql_and_is_idempotent(tmp_path: Path, postgres_url: str) -> None:
    async with own_postgres_database(postgres_url) as database_url:
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
        assert version == "0010"
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
        assert first.health["database"] == {"ok": True, "backend": "sqlite"}
        async with visitor(first.ws, first.tenants["business"]) as client:
            await client.say("hello")
            await client.ai_reply()
            session_id, token = client.ready["session_id"], client.ready["resume_token"]
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
            for email, password, business_id in (
                ("admin@office16852.com", "your_password", "office16852-platform"),
                ("customer@business.com", "customer_password", "business"),
            ):
                login = await http.post("/api/auth/login", json={"email": email, "password": password})
                assert login.status_code == 200, login.text
                assert login.json()["user"]["business_id"] == business_id
            admin = await http.post(
                "/api/auth/login", json={"email": "admin@office16852.com", "password": "your_password"}
            )
            assert admin.json()["user"]["platform_admin"] is True
    with contextlib.closing(sqlite3.connect(tmp_path / "cli.sqlite3")) as db:
        rows = db.execute("SELECT business_id, id, origins FROM tenants ORDER BY business_id").fetchall()
    assert [(row[0], row[1]) for row in rows] == sorted(first.tenants.items())
    assert "http://localhost:*" in json.loads(rows[0][2])
