"""The message writer: every durable message goes through here, batched into few transactions.

One task per node drains a queue: what arrives while a transaction runs is written by the next one,
so at rest a message commits alone and under load hundreds share one statement. Seqs are given
out under a row lock on the session (the upsert's on PostgreSQL, the single writer on SQLite), so
every node sees one gapless order per session, and nothing is published before it is committed.
A message's webhook deliveries (built by the caller's ``events`` once the seq is known) commit in
the same transaction: an event exists exactly when its message does. So does its entry in the search index
(``hub.store.search_index``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from asyncpg.exceptions import IntegrityConstraintViolationError, UniqueViolationError
from sqlalchemy import bindparam, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.errors import StoreUnavailable
from hub.metrics import Metrics
from hub.store import search_index
from hub.store.models import StoredMessage
from hub.store.tables import chat_sessions, messages, webhook_deliveries
from hub.store.transcript import message_from_row
from hub.store.webhooks import OutboxRow
from hub.supervise import supervise

logger = logging.getLogger(__name__)

Events = Callable[[StoredMessage], list[OutboxRow]]


@dataclass
class WriteResult:
    message: StoredMessage
    mode: str
    status: str


@dataclass
class _Pending:
    tenant_id: str
    session_id: str
    role: str
    text: str
    client_id: str | None
    meta: dict[str, Any] | None
    message_id: str
    events: Events | None
    future: asyncio.Future[WriteResult] = field(repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.tenant_id, self.session_id)


class MessageWriter:
    max_batch = 500
    ping_after_idle_s = 5.0

    def __init__(self, engine: AsyncEngine, *, timeout_s: float = 10.0, metrics: Metrics | None = None) -> None:
        self.engine = engine
        self.metrics = metrics or Metrics.unexposed()
        # A batch that has not committed within the statement bound (and a little) means a stuck writer.
        self.stuck_after_s = timeout_s + 2.0
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._is_postgres = engine.dialect.name == "postgresql"
        self._connection: AsyncConnection | None = None
        self._driver: Any = None  # the asyncpg connection under ``_connection`` (PostgreSQL)
        self._last_used = 0.0
        self.batches = 0  # transactions committed, and the messages in them: how well batching works
        self.written = 0
        self._busy_since: float | None = None  # when the batch being written started
        self.last_error: str | None = None  # why the last batch failed, until one succeeds
        self._failed_at = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(supervise("message-writer", self._run))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._drop_connection()
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(StoreUnavailable("the hub is shutting down; retry on another node"))

    async def append(
        self,
        tenant_id: str,
        session_id: str,
        role: str,
        text: str,
        *,
        client_id: str | None = None,
        meta: dict[str, Any] | None = None,
        message_id: str | None = None,
        events: Events | None = None,
    ) -> WriteResult:
        """Store one message and return it with its seq once committed (or the earlier copy, for a retry).

        ``events`` gives the webhook deliveries of the new message, written in its transaction (none for a retry).
        """
        future: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(
            _Pending(
                tenant_id, session_id, role, text, client_id, meta, message_id or str(uuid.uuid4()), events, future
            )
        )
        return await future

    async def ensure_session(self, tenant_id: str, session_id: str) -> None:
        """Create an empty session now (sessions otherwise appear with their first message)."""
        async with self.engine.begin() as connection:
            await self._ensure_sessions(connection, [(tenant_id, session_id)], datetime.now(UTC))

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._write_batch(batch)

    def health(self) -> dict[str, object]:
        """What the writer experiences: a batch in flight for longer than the statement bound is a stuck
        writer (a node whose pings pass may still be unable to store anything), and so is a failing one."""
        now = time.monotonic()
        busy_s = 0.0 if self._busy_since is None else now - self._busy_since
        # A failure counts for a while; with no traffic since, the database ping beside this one decides.
        failing = self.last_error is not None and now - self._failed_at < self.stuck_after_s
        report: dict[str, object] = {"ok": busy_s < self.stuck_after_s and not failing}
        if busy_s:
            report["busy_s"] = round(busy_s, 1)
        if self._queue.qsize():
            report["queued"] = self._queue.qsize()
        if self.last_error is not None:
            report["error"] = self.last_error
        return report

    async def _write_batch(self, batch: list[_Pending]) -> None:
        self._busy_since = time.monotonic()
        try:
            await self._write_batch_now(batch)
        finally:
            self._busy_since = None

    async def _write_batch_now(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            results = await self._commit(batch)
        except (IntegrityError, IntegrityConstraintViolationError):
            if len(batch) == 1:
                logger.warning("message for session %s conflicted and was not stored", batch[0].session_id)
                self._fail(batch, StoreUnavailable("the message was not stored; retry with the same client_id"))
                return
            # A race with another node on one item must not fail the others: retry them one by one.
            for pending in batch:
                await self._write_batch_now([pending])
            return
        except Exception as exc:
            logger.exception("storing %d messages failed", len(batch))
            self.last_error, self._failed_at = f"{type(exc).__name__}: {exc}"[:200], time.monotonic()
            await self._drop_connection()  # it may be broken (or silent for good): the next batch opens a new one
            self._fail(batch, StoreUnavailable("the message was not stored; retry with the same client_id"))
            return
        metrics = self.metrics
        metrics.writer_commit.observe(time.perf_counter() - started)
        metrics.writer_batch.observe(len(batch))
        metrics.messages_stored.inc(len(batch))
        self.last_error = None
        self.batches += 1
        self.written += len(batch)
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)

    async def _open_connection(self) -> AsyncConnection:
        """The writer's own connection, kept open: no pool checkout and liveness ping per batch.

        After a quiet spell it is pinged first, as the pool would, so a database restart in between
        costs a reconnect rather than a failed batch.
        """
        now = time.monotonic()
        connection = self._connection
        if connection is not None and not connection.closed and now - self._last_used > self.ping_after_idle_s:
            try:
                async with asyncio.timeout(2):
                    await connection.exec_driver_sql("SELECT 1")
                await connection.rollback()
            except Exception:
                await self._drop_connection()
                connection = None
        if connection is None or connection.closed:
            connection = self._connection = await self.engine.connect()
            self._driver = (await connection.get_raw_connection()).driver_connection if self._is_postgres else None
        self._last_used = now
        return connection

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        self._driver = None
        if connection is not None:
            try:
                # Bounded: closing a connection the network froze must not freeze the writer with it.
                async with asyncio.timeout(2):
                    await connection.invalidate()
            except Exception:  # a broken connection may fail to close in many ways; it is gone either way
                logger.debug("closing the writer's connection failed", exc_info=True)

    @staticmethod
    def _fail(batch: list[_Pending], exc: StoreUnavailable) -> None:
        for pending in batch:
            if not pending.future.done():
                pending.future.set_exception(exc)

    async def _commit(self, batch: list[_Pending]) -> list[WriteResult]:
        now = datetime.now(UTC)
        keys = sorted({pending.key for pending in batch})
        connection = await self._open_connection()
        if not _repeats_a_client_id(batch):
            try:
                if self._is_postgres:
                    results = await self._commit_fast_postgres(batch, now)
                else:
                    async with connection.begin():
                        results = await self._commit_fast(connection, batch, keys, now)
            except _EarlierCopy:
                pass  # rolled back: a retry of a stored message is in the batch
            else:
                return results
        async with connection.begin():
            results = await self._commit_checked(connection, batch, keys, now)
        return results

    async def _commit_fast(
        self, connection: AsyncConnection, batch: list[_Pending], keys: list[tuple[str, str]], now: datetime
    ) -> list[WriteResult]:
        """Every message new (the usual case): lock, insert (a stored client_id aborts), update. No read of copies."""
        await self._ensure_sessions(connection, keys, now)
        state = await self._lock_sessions(connection, keys)
        results: list[WriteResult] = []
        rows: list[dict[str, Any]] = []
        for pending in batch:
            last_seq, mode, status = state[pending.key]
            state[pending.key] = (last_seq + 1, mode, status)
            message = self._message(pending, last_seq + 1, now)
            rows.append(_row(message))
            results.append(WriteResult(message, mode, status))
        insert = (pg_insert if self._is_postgres else sqlite_insert)(messages)
        inserted = await connection.execute(
            insert.on_conflict_do_nothing(index_elements=["tenant_id", "session_id", "client_id"]).returning(
                messages.c.id
            ),
            rows,
        )
        if len(inserted.all()) != len(rows):
            raise _EarlierCopy
        await search_index.add(connection, _searched(results))
        await self._update_sessions(connection, state, keys, now)
        await _insert_outbox(connection, _outbox(batch, results))
        return results

    async def _commit_fast_postgres(self, batch: list[_Pending], now: datetime) -> list[WriteResult]:
        """The fast path as one prepared statement in its own implicit transaction: one round trip a batch.

        It upserts the sessions (creating new ones, bumping ``last_seq`` by the batch's count under the
        row lock the upsert takes, in key order so two nodes never deadlock) and inserts the messages
        numbered from there. A client_id stored before fails the statement, which rolls it back whole.
        Measured: the earlier four statements in a transaction (six round trips) capped a node at about
        2,000 messages/s on this machine.
        """
        raw = self._driver
        if any(pending.events is not None for pending in batch):
            # Deliveries are built from the seqs the statement gives out, so they need a transaction around both.
            async with raw.transaction():
                results = await self._write_postgres(raw, batch, now)
                outbox = _outbox(batch, results)
                if outbox:
                    await raw.executemany(_PG_OUTBOX, [tuple(row[c] for c in _OUTBOX_COLUMNS) for row in outbox])
            return results
        return await self._write_postgres(raw, batch, now)

    async def _write_postgres(self, raw: Any, batch: list[_Pending], now: datetime) -> list[WriteResult]:
        documents = [search_index.document(p.text) if p.role in search_index.SEARCHED_ROLES else None for p in batch]
        try:
            rows = await raw.fetch(
                _PG_WRITE,
                [pending.message_id for pending in batch],
                [pending.tenant_id for pending in batch],
                [pending.session_id for pending in batch],
                [pending.role for pending in batch],
                [pending.text for pending in batch],
                [pending.client_id for pending in batch],
                [None if pending.meta is None else orjson.dumps(pending.meta).decode() for pending in batch],
                now,
                [None if document is None else document.words for document in documents],
                [None if document is None else document.keys for document in documents],
            )
        except UniqueViolationError as exc:
            if exc.constraint_name == "uq_messages_session_client":
                raise _EarlierCopy from exc
            raise
        counts: dict[tuple[str, str], int] = {}
        for pending in batch:
            counts[pending.key] = counts.get(pending.key, 0) + 1
        state: dict[tuple[str, str], tuple[int, str, str]] = {}
        for row in rows:
            key = (row["tenant_id"], row["id"])
            state[key] = (row["last_seq"] - counts[key], row["mode"], row["status"])
        results: list[WriteResult] = []
        for pending in batch:
            last_seq, mode, status = state[pending.key]
            state[pending.key] = (last_seq + 1, mode, status)
            results.append(WriteResult(self._message(pending, last_seq + 1, now), mode, status))
        return results

    async def _commit_checked(
        self, connection: AsyncConnection, batch: list[_Pending], keys: list[tuple[str, str]], now: datetime
    ) -> list[WriteResult]:
        """The batch holds retries: look up the copies stored earlier and answer those instead."""
        await self._ensure_sessions(connection, keys, now)
        state = await self._lock_sessions(connection, keys)
        earlier = await self._earlier_copies(connection, batch)
        results: list[WriteResult] = []
        rows: list[dict[str, Any]] = []
        for pending in batch:
            last_seq, mode, status = state[pending.key]
            copy = earlier.get((*pending.key, pending.client_id)) if pending.client_id else None
            if copy is not None:
                results.append(WriteResult(replace(copy, duplicate=True), mode, status))
                continue
            state[pending.key] = (last_seq + 1, mode, status)
            message = self._message(pending, last_seq + 1, now)
            if pending.client_id:
                earlier[(*pending.key, pending.client_id)] = message
            rows.append(_row(message))
            results.append(WriteResult(message, mode, status))
        if rows:
            await connection.execute(messages.insert(), rows)
            await search_index.add(connection, _searched(results))
            written = sorted({(row["tenant_id"], row["session_id"]) for row in rows})
            await self._update_sessions(connection, state, written, now)
            await _insert_outbox(connection, _outbox(batch, results))
        return results

    @staticmethod
    def _message(pending: _Pending, seq: int, now: datetime) -> StoredMessage:
        return StoredMessage(
            id=pending.message_id,
            tenant_id=pending.tenant_id,
            session_id=pending.session_id,
            seq=seq,
            role=pending.role,
            text=pending.text,
            client_id=pending.client_id,
            created_at=now,
            meta=pending.meta,
        )

    @staticmethod
    async def _update_sessions(
        connection: AsyncConnection,
        state: dict[tuple[str, str], tuple[int, str, str]],
        keys: list[tuple[str, str]],
        now: datetime,
    ) -> None:
        await connection.execute(
            chat_sessions.update()
            .where(chat_sessions.c.tenant_id == bindparam("b_tenant"), chat_sessions.c.id == bindparam("b_id"))
            .values(last_seq=bindparam("b_seq"), updated_at=bindparam("b_now")),
            [{"b_tenant": key[0], "b_id": key[1], "b_seq": state[key][0], "b_now": now} for key in keys],
        )

    async def _ensure_sessions(self, connection: AsyncConnection, keys: list[tuple[str, str]], now: datetime) -> None:
        # On SQLite this write runs first: it takes the write lock before anything is read.
        insert = (pg_insert if self._is_postgres else sqlite_insert)(chat_sessions)
        await connection.execute(
            insert.on_conflict_do_nothing(),
            [
                {
                    "tenant_id": tenant_id,
                    "id": session_id,
                    "last_seq": 0,
                    "mode": "ai",
                    "status": "open",
                    "created_at": now,
                    "updated_at": now,
                }
                for tenant_id, session_id in keys
            ],
        )

    async def _lock_sessions(
        self, connection: AsyncConnection, keys: list[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, str, str]]:
        query = (
            select(chat_sessions.c.tenant_id, chat_sessions.c.id, chat_sessions.c.last_seq, chat_sessions.c.mode)
            .add_columns(chat_sessions.c.status)
            .where(tuple_(chat_sessions.c.tenant_id, chat_sessions.c.id).in_(keys))
            .order_by(chat_sessions.c.tenant_id, chat_sessions.c.id)
        )
        if self._is_postgres:
            query = query.with_for_update()
        rows = (await connection.execute(query)).all()
        return {(row.tenant_id, row.id): (row.last_seq, row.mode, row.status) for row in rows}

    async def _earlier_copies(
        self, connection: AsyncConnection, batch: list[_Pending]
    ) -> dict[tuple[str, str, str | None], StoredMessage]:
        wanted = {(p.tenant_id, p.session_id, p.client_id) for p in batch if p.client_id}
        if not wanted:
            return {}
        query = select(messages).where(
            tuple_(messages.c.tenant_id, messages.c.session_id, messages.c.client_id).in_(sorted(wanted))
        )
        rows = (await connection.execute(query)).all()
        return {(row.tenant_id, row.session_id, row.client_id): message_from_row(row) for row in rows}


_PG_WRITE = """
WITH m AS (
    SELECT * FROM unnest(
        $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $9::text[], $10::text[]
    ) WITH ORDINALITY AS u(i, t, s, r, x, c, j, w, k, o)
), n AS (
    SELECT t, s, count(*)::int AS n FROM m GROUP BY t, s
), bumped AS (
    INSERT INTO chat_sessions AS cs (tenant_id, id, last_seq, mode, status, created_at, updated_at)
    SELECT t, s, n, 'ai', 'open', $8, $8 FROM n ORDER BY t, s
    ON CONFLICT (tenant_id, id)
        DO UPDATE SET last_seq = cs.last_seq + excluded.last_seq, updated_at = excluded.updated_at
    RETURNING cs.tenant_id, cs.id, cs.last_seq, cs.mode, cs.status
), inserted AS (
    INSERT INTO messages (id, tenant_id, session_id, seq, role, text, client_id, meta, created_at)
    SELECT m.i, m.t, m.s, b.last_seq - n.n + row_number() OVER (PARTITION BY m.t, m.s ORDER BY m.o), m.r, m.x, m.c,
        m.j::json, $8
    FROM m JOIN n ON n.t = m.t AND n.s = m.s JOIN bumped AS b ON b.tenant_id = m.t AND b.id = m.s
), indexed AS (
    INSERT INTO conversation_search (item_id, tenant_id, session_id, kind, created_at, words, keys)
    SELECT m.i, m.t, m.s, 'message', $8, m.w::tsvector, m.k::tsvector
    FROM m WHERE m.w IS NOT NULL
)
SELECT tenant_id, id, last_seq, mode, status FROM bumped
"""


_OUTBOX_COLUMNS = (
    "id", "tenant_id", "endpoint_id", "event_type", "payload", "status", "attempts", "next_attempt_at", "created_at"
)  # fmt: skip
_PG_OUTBOX = (
    f"INSERT INTO webhook_deliveries ({', '.join(_OUTBOX_COLUMNS)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_OUTBOX_COLUMNS) + 1))})"
)


def _outbox(batch: list[_Pending], results: list[WriteResult]) -> list[OutboxRow]:
    """The webhook deliveries of the batch's new messages (a retry's copy made its own when it was new)."""
    rows: list[OutboxRow] = []
    for pending, result in zip(batch, results, strict=True):
        if pending.events is not None and not result.message.duplicate:
            rows += pending.events(result.message)
    return rows


async def _insert_outbox(connection: AsyncConnection, rows: list[OutboxRow]) -> None:
    if rows:
        await connection.execute(webhook_deliveries.insert(), rows)


class _EarlierCopy(Exception):
    """A message of the batch was stored before (a retry): the fast path rolls back for the checked one."""


def _repeats_a_client_id(batch: list[_Pending]) -> bool:
    ids = [(p.tenant_id, p.session_id, p.client_id) for p in batch if p.client_id]
    return len(ids) != len(set(ids))


def _searched(results: list[WriteResult]) -> list[search_index.Entry]:
    """The search index entries of the batch's new messages (a retry's copy has its own already)."""
    return [
        search_index.Entry(m.id, m.tenant_id, m.session_id, "message", m.created_at, m.text)
        for m in (result.message for result in results)
        if not m.duplicate and m.role in search_index.SEARCHED_ROLES
    ]


def _row(message: StoredMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "tenant_id": message.tenant_id,
        "session_id": message.session_id,
        "seq": message.seq,
        "role": message.role,
        "text": message.text,
        "client_id": message.client_id,
        "meta": message.meta,
        "created_at": message.created_at,
    }
