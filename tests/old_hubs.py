"""A hub's database as an older version left it, for tests that upgrade it: an empty database of either backend,
migrated up to a given revision; the test writes what that version would have written, then migrates."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.database import alembic_config, open_engine


@contextlib.asynccontextmanager
async def database_at(revision: str, backend: str, tmp_path: Path, postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a new database (SQLite in ``tmp_path``, or one beside the test database on PostgreSQL, dropped
    afterwards) whose schema is at ``revision``."""
    async with contextlib.AsyncExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
        else:
            url = await stack.enter_async_context(fresh_database(postgres_url))
        engine = open_engine(url)
        stack.push_async_callback(engine.dispose)
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
        yield engine


@contextlib.asynccontextmanager
async def fresh_database(postgres_url: str) -> AsyncIterator[str]:
    """An empty database beside the test database, dropped afterwards."""
    server, _, _ = postgres_url.replace("postgresql+asyncpg://", "postgresql://").rpartition("/")
    name = f"bobhub_old_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{server.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
