"""The message writer: every durable message goes through here, batched into few transactions.

One task per node drains a queue: what arrives while a transaction runs is written by the next one,
so at rest a message commits alone and under load hundreds share four statements. Seqs are given
out under a row lock on the session (``FOR UPDATE`` on PostgreSQL, the single writer on SQLite), so
every node sees one gapless order per session, and nothing is published before it is committed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.errors import StoreUnavailable
from hub.store.models import StoredMessage
from hub.store.tables import chat_sessions, messages
from hub.store.transcript import message_from_row
from hub.supervise import supervise

logger = logging.getLogger(__name__)


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
    future: asyncio.Future[WriteResult] = field(repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.tenant_id, self.session_id)


class MessageWriter:
    max_batch = 500
    known_sessions_cache = 50_000

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._is_postgres = engine.dialect.name == "postgresql"
        self._known_sessions: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.batches = 0
        self.written = 0

    def start(self) -> None:
        self._task = asyncio.create_task(supervise("message-writer", self._run))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
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
    ) -> WriteResult:
        """Store one message and return it with its seq once committed (or the earlier copy, for a retry)."""
        future: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(
            _Pending(tenant_id, session_id, role, text, client_id, meta, message_id or str(uuid.uuid4()), future)
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

    async def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            results = await self._commit(batch)
        except IntegrityError:
            if len(batch) == 1:
                logger.warning("message for session %s conflicted and was not stored", batch[0].session_id)
                self._fail(batch, StoreUnavailable("the message was not stored; retry with the same client_id"))
                return
            # A race with another node on one item must not fail the others: retry them one by one.
            for pending in batch:
                await self._write_batch([pending])
            return
        except Exception:
            logger.exception("storing %d messages failed", len(batch))
            self._fail(batch, StoreUnavailable("the message was not stored; retry with the same client_id"))
            return
        self.batches += 1
        self.written += len(batch)
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)

    @staticmethod
    def _fail(batch: list[_Pending], exc: StoreUnavailable) -> None:
        for pending in batch:
            if not pending.future.done():
                pending.future.set_exception(exc)

    async def _commit(self, batch: list[_Pending]) -> list[WriteResult]:
        now = datetime.now(UTC)
        keys = sorted({pending.key for pending in batch})
        async with self.engine.begin() as connection:
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
                seq = last_seq + 1
                state[pending.key] = (seq, mode, status)
                message = StoredMessage(
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
                if pending.client_id:
                    earlier[(*pending.key, pending.client_id)] = message
                rows.append(
                    {
                        "id": message.id,
                        "tenant_id": message.tenant_id,
                        "session_id": message.session_id,
                        "seq": seq,
                        "role": message.role,
                        "text": message.text,
                        "client_id": message.client_id,
                        "meta": message.meta,
                        "created_at": now,
                    }
                )
                results.append(WriteResult(message, mode, status))
            if rows:
                await connection.execute(messages.insert(), rows)
                await connection.execute(
                    chat_sessions.update()
                    .where(chat_sessions.c.tenant_id == bindparam("b_tenant"), chat_sessions.c.id == bindparam("b_id"))
                    .values(last_seq=bindparam("b_seq"), updated_at=bindparam("b_now")),
                    [
                        {"b_tenant": key[0], "b_id": key[1], "b_seq": state[key][0], "b_now": now}
                        for key in sorted({(row["tenant_id"], row["session_id"]) for row in rows})
                    ],
                )
        for key in keys:
            self._remember(key)
        return results

    async def _ensure_sessions(self, connection: AsyncConnection, keys: list[tuple[str, str]], now: datetime) -> None:
        # On SQLite this write always runs first: it takes the write lock before anything is read.
        missing = keys if not self._is_postgres else [key for key in keys if key not in self._known_sessions]
        if not missing:
            return
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
                for tenant_id, session_id in missing
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

    def _remember(self, key: tuple[str, str]) -> None:
        self._known_sessions[key] = None
        self._known_sessions.move_to_end(key)
        if len(self._known_sessions) > self.known_sessions_cache:
            self._known_sessions.popitem(last=False)
