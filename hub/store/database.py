"""Engine creation and schema migration (Alembic, run in-process at start)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

logger = logging.getLogger(__name__)

PING_AFTER_IDLE_S = 5.0
_LAST_CHECKIN = "hub_last_checkin"

# Any constant works: it only has to be the same on every node racing to migrate one database.
_MIGRATION_LOCK_ID = 0x0B0B_4B0B


DEFAULT_TIMEOUT_S = 10.0


def open_engine(database_url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> AsyncEngine:
    """An engine whose every statement, connect and pool checkout is bounded by ``timeout_s`` (PostgreSQL).

    A failover or a NAT timeout leaves TCP connections open and silent: without a bound, a statement on
    one waits forever (measured: a node stored nothing for a minute after a 5 s blackhole). asyncpg's
    ``command_timeout`` ends such a statement; the connection is then discarded and a new one made.
    SQLite is a local file: it has only its busy timeout.
    """
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets readers run while the writer commits; foreign keys are off by default in SQLite.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    engine = create_async_engine(
        database_url,
        pool_size=10,
        max_overflow=10,
        pool_timeout=timeout_s,
        connect_args={"command_timeout": timeout_s, "timeout": timeout_s},
    )
    ping_pooled_connections_after_idle(engine, PING_AFTER_IDLE_S)
    return engine


def ping_pooled_connections_after_idle(engine: AsyncEngine, idle_s: float) -> None:
    """Check a pooled connection's liveness only when it sat unused for ``idle_s``.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout, and on asyncpg a ping outside a
    transaction is three round trips (BEGIN, ``;``, ROLLBACK): 200 AI replies starting at once paid
    600 of them before their first read. A connection in use moments ago is alive; one idle across
    a database restart is found dead here and replaced, so that restart fails no request.
    """

    def stamp(_dbapi_connection: Any, record: Any, *_args: Any) -> None:
        record.info[_LAST_CHECKIN] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_LAST_CHECKIN, 0.0) <= idle_s:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:
            # The pool discards this connection and checks out another (a fresh one if need be).
            raise DisconnectionError("pooled connection failed its liveness ping") from exc

    event.listen(engine.sync_engine, "connect", stamp)
    event.listen(engine.sync_engine, "checkin", stamp)
    event.listen(engine.sync_engine, "checkout", ping_if_idle)


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads: each statement is its own snapshot, with no BEGIN and ROLLBACK around it."""
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration for the hub's migrations, run on ``connection``."""
    config = Config()
    config.set_main_option("script_location", "hub.store:migrations")
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


MIGRATION_TIMEOUT_S = 600.0  # a migration may rewrite a large table: not the bound of a chat statement


async def migrate_database(database_url: str) -> None:
    """Migrate on an engine of its own, whose statements may take as long as a migration needs."""
    engine = open_engine(database_url, MIGRATION_TIMEOUT_S)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision; safe when several nodes start at once."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        await connection.run_sync(_upgrade)
