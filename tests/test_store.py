"""The message writer (with the webhook events it commits) and transcript reads, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from alembic import command
from sqlalchemy import Connection, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.backplane import MemoryBackplane
from hub.broker.memory import MemoryBroker
from hub.chat.fanout import Fanout
from hub.chat.publisher import Publisher
from hub.chat.service import ChatService
from hub.errors import StoreUnavailable
from hub.keys import Keys
from hub.protocol import SessionChange, message_frame
from hub.store.database import PING_AFTER_IDLE_S, alembic_config, migrate, open_engine, reading
from hub.store.models import Tenant
from hub.store.tables import chat_sessions, messages, personas, tenants, webhook_deliveries, webhook_endpoints
from hub.store.transcript import get_session, messages_after, recent_messages, reply_context
from hub.store.webhooks import create_endpoint
from hub.store.writer import MessageWriter
from hub.webhooks.outbox import Webhooks
from tests.accounts import create_tenant
from tests.services import postgres_for_tests


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


class Store:
    """Engines on one database, and the tenants this test made (removed afterwards)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engines: list[AsyncEngine] = []
        self.tenant_ids: list[str] = []

    async def engine(self) -> AsyncEngine:
        engine = open_engine(self.url)
        if not self.engines:
            await migrate(engine)
        self.engines.append(engine)
        return engine

    async def tenant(self) -> Tenant:
        tenant = await create_tenant(
            self.engines[0], name="Store Test", business_id=f"store-{secrets.token_hex(6)}", origins=()
        )
        self.tenant_ids.append(tenant.id)
        return tenant

    async def close(self) -> None:
        if self.engines and self.tenant_ids:
            async with self.engines[0].begin() as connection:
                mine = webhook_deliveries.c.tenant_id.in_(self.tenant_ids)
                await connection.execute(delete(webhook_deliveries).where(mine))
                await connection.execute(
                    delete(webhook_endpoints).where(webhook_endpoints.c.tenant_id.in_(self.tenant_ids))
                )
                await connection.execute(delete(messages).where(messages.c.tenant_id.in_(self.tenant_ids)))
                await connection.execute(delete(chat_sessions).where(chat_sessions.c.tenant_id.in_(self.tenant_ids)))
                await connection.execute(delete(personas).where(personas.c.tenant_id.in_(self.tenant_ids)))
                await connection.execute(delete(tenants).where(tenants.c.id.in_(self.tenant_ids)))
        for engine in self.engines:
            await engine.dispose()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = Store(database_url)
    await opened.engine()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def writer(store: Store) -> AsyncIterator[MessageWriter]:
    running = MessageWriter(store.engines[0])
    running.start()
    try:
        yield running
    finally:
        await running.stop()


def session_id() -> str:
    return "s_" + secrets.token_urlsafe(12)


async def test_seqs_are_gapless_per_session_under_500_concurrent_appends_across_20_sessions(
    store: Store, writer: MessageWriter
) -> None:
    tenant = await store.tenant()
    sessions = [session_id() for _ in range(20)]
    results = await asyncio.gather(
        *(writer.append(tenant.id, sessions[number % 20], "visitor", f"m{number}") for number in range(500))
    )
    engine = store.engines[0]
    for position, sid in enumerate(sessions):
        mine = [result.message for result in results if result.message.session_id == sid]
        assert [message.seq for message in mine] == list(range(1, 26)), "seqs follow the order of the appends"
        assert [message.text for message in mine] == [f"m{number}" for number in range(position, 500, 20)]
        stored = await messages_after(engine, tenant.id, sid, 0)
        assert [(m.seq, m.id, m.text) for m in stored] == [(m.seq, m.id, m.text) for m in mine]
        state = await get_session(engine, tenant.id, sid)
        assert state is not None and state.last_seq == 25 and state.mode == "ai" and state.status == "open"
    assert all(result.mode == "ai" and result.status == "open" for result in results)
    assert writer.written == 500 and writer.batches <= 10, "concurrent appends share transactions"


async def test_client_id_retry_returns_the_earlier_copy_marked_duplicate_without_a_new_seq(
    store: Store, writer: MessageWriter
) -> None:
    tenant = await store.tenant()
    sid, other_sid = session_id(), session_id()
    first = (await writer.append(tenant.id, sid, "visitor", "hello", client_id="c-1")).message
    retry = (await writer.append(tenant.id, sid, "visitor", "hello (resent)", client_id="c-1")).message
    assert not first.duplicate and retry.duplicate
    assert (retry.id, retry.seq, retry.text, retry.client_id) == (first.id, 1, "hello", "c-1")
    following = (await writer.append(tenant.id, sid, "visitor", "next", client_id="c-2")).message
    assert following.seq == 2 and not following.duplicate
    # Two copies of one message racing into the same batch: one is stored, the other is its duplicate.
    racing = await asyncio.gather(
        writer.append(tenant.id, sid, "visitor", "twice", client_id="c-3"),
        writer.append(tenant.id, sid, "visitor", "twice", client_id="c-3"),
    )
    assert sorted(result.message.duplicate for result in racing) == [False, True]
    assert {result.message.seq for result in racing} == {3} and len({r.message.id for r in racing}) == 1
    # A client id is only unique within its session.
    elsewhere = (await writer.append(tenant.id, other_sid, "visitor", "hello", client_id="c-1")).message
    assert elsewhere.seq == 1 and not elsewhere.duplicate and elsewhere.id != first.id
    # Messages without a client id are never deduplicated.
    plain = [(await writer.append(tenant.id, sid, "ai", "same text")).message for _ in range(2)]
    assert [message.seq for message in plain] == [4, 5]
    stored = await messages_after(store.engines[0], tenant.id, sid, 0)
    assert [(m.seq, m.text) for m in stored] == [
        (1, "hello"),
        (2, "next"),
        (3, "twice"),
        (4, "same text"),
        (5, "same text"),
    ]


async def test_two_nodes_appending_to_one_session_produce_one_gapless_unique_sequence(store: Store) -> None:
    tenant = await store.tenant()
    sid = session_id()
    writers = [MessageWriter(await store.engine()), MessageWriter(await store.engine())]
    for node in writers:
        node.start()
    # Each node's connection is made first (elsewhere), so neither starts the race a connect behind the other.
    await asyncio.gather(*(node.append(tenant.id, session_id(), "visitor", "warm-up") for node in writers))

    async def node_appends(node: int) -> list[int]:
        seqs: list[int] = []
        for round_number in range(20):
            results = await asyncio.gather(
                *(
                    writers[node].append(tenant.id, sid, "visitor", f"n{node}-r{round_number}-{item}")
                    for item in range(10)
                )
            )
            seqs.extend(result.message.seq for result in results)
        return seqs

    try:
        per_node = await asyncio.wait_for(asyncio.gather(node_appends(0), node_appends(1)), 30)
    finally:
        for node in writers:
            await node.stop()
    every = per_node[0] + per_node[1]
    assert sorted(every) == list(range(1, 401)), "no seq is lost or given twice"
    for seqs in per_node:
        assert seqs == sorted(seqs), "each node's own messages keep their order"
    if store.url.startswith("postgresql"):
        # Row locks queue fairly; SQLite's busy handler may let one node finish first, which is still correct.
        assert per_node[0][-1] > per_node[1][0] and per_node[1][-1] > per_node[0][0], "the two nodes interleaved"
    stored = await messages_after(store.engines[0], tenant.id, sid, 0)
    assert [m.seq for m in stored] == list(range(1, 401))
    state = await get_session(store.engines[0], tenant.id, sid)
    assert state is not None and state.last_seq == 400


async def test_reads_are_scoped_to_the_tenant_even_when_session_ids_collide(
    store: Store, writer: MessageWriter
) -> None:
    one, two, three = await store.tenant(), await store.tenant(), await store.tenant()
    shared = session_id()
    for text in ("one-1", "one-2", "one-3"):
        await writer.append(one.id, shared, "visitor", text, client_id=text)
    theirs = (await writer.append(two.id, shared, "visitor", "two-1", client_id="one-1")).message
    assert theirs.seq == 1 and not theirs.duplicate, "another tenant's client id is not a duplicate"
    engine = store.engines[0]
    assert [(m.seq, m.text) for m in await messages_after(engine, one.id, shared, 0)] == [
        (1, "one-1"),
        (2, "one-2"),
        (3, "one-3"),
    ]
    assert [(m.seq, m.text) for m in await messages_after(engine, two.id, shared, 0)] == [(1, "two-1")]
    assert await messages_after(engine, three.id, shared, 0) == []
    assert [m.text for m in await messages_after(engine, one.id, shared, 1, until_seq=2)] == ["one-2"]
    assert [m.text for m in await recent_messages(engine, one.id, shared, 2)] == ["one-2", "one-3"]
    assert [m.text for m in await recent_messages(engine, two.id, shared, 10)] == ["two-1"]
    assert await recent_messages(engine, three.id, shared, 10) == []
    state_one, state_two = await get_session(engine, one.id, shared), await get_session(engine, two.id, shared)
    assert state_one is not None and (state_one.tenant_id, state_one.last_seq) == (one.id, 3)
    assert state_two is not None and (state_two.tenant_id, state_two.last_seq) == (two.id, 1)
    assert await get_session(engine, three.id, shared) is None
    assert all(m.tenant_id == one.id for m in await messages_after(engine, one.id, shared, 0))
    context = await reply_context(engine, one.id, shared, 2)
    assert (context.mode, context.waiting, [m.text for m in context.history]) == ("ai", False, ["one-2", "one-3"])
    context = await reply_context(engine, two.id, shared, 30)
    assert (context.mode, [m.text for m in context.history]) == ("ai", ["two-1"])
    empty = await reply_context(engine, three.id, shared, 30)
    assert (empty.mode, empty.history) == (None, [])


async def test_stored_message_keeps_role_meta_and_an_aware_utc_timestamp(store: Store, writer: MessageWriter) -> None:
    tenant = await store.tenant()
    sid = session_id()
    before = datetime.now(UTC)
    message_id = str(uuid.uuid4())
    written = await writer.append(tenant.id, sid, "ai", "cut short", meta={"truncated": True}, message_id=message_id)
    assert written.message.id == message_id
    (stored,) = await messages_after(store.engines[0], tenant.id, sid, 0)
    assert (stored.id, stored.role, stored.text, stored.meta) == (message_id, "ai", "cut short", {"truncated": True})
    assert stored.created_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= stored.created_at <= datetime.now(UTC) + timedelta(seconds=1)
    frame = message_frame(stored)
    assert frame.truncated is True and frame.created_at == written.message.created_at.isoformat()


async def test_a_message_that_cannot_be_stored_fails_alone_and_its_batch_neighbours_are_stored(
    store: Store, writer: MessageWriter
) -> None:
    tenant = await store.tenant()
    sid = session_id()
    missing_tenant = str(uuid.uuid4())
    outcomes = await asyncio.gather(
        writer.append(tenant.id, sid, "visitor", "before"),
        writer.append(missing_tenant, sid, "visitor", "orphan"),
        writer.append(tenant.id, sid, "visitor", "after"),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], StoreUnavailable) and outcomes[1].code == "not_stored"
    good = [outcome for outcome in (outcomes[0], outcomes[2]) if not isinstance(outcome, BaseException)]
    assert [result.message.seq for result in good] == [1, 2]
    async with store.engines[0].connect() as connection:
        orphans = await connection.scalar(
            select(func.count()).select_from(messages).where(messages.c.tenant_id == missing_tenant)
        )
    assert orphans == 0
    assert (await writer.append(tenant.id, sid, "visitor", "still working")).message.seq == 3


async def test_a_retry_reaching_two_nodes_at_once_is_stored_once(store: Store) -> None:
    tenant = await store.tenant()
    sid = session_id()
    writers = [MessageWriter(await store.engine()), MessageWriter(await store.engine())]
    for node in writers:
        node.start()
    try:
        results = await asyncio.gather(
            *(
                writers[number % 2].append(tenant.id, sid, "visitor", "hello", client_id=f"c-{number // 2}")
                for number in range(40)
            )
        )
    finally:
        for node in writers:
            await node.stop()
    for client_number in range(20):
        copies = [result.message for result in results if result.message.client_id == f"c-{client_number}"]
        assert len({message.id for message in copies}) == 1 and len({message.seq for message in copies}) == 1
        assert sorted(message.duplicate for message in copies) == [False, True]
    stored = await messages_after(store.engines[0], tenant.id, sid, 0)
    assert [m.seq for m in stored] == list(range(1, 21))
    assert sorted(m.client_id or "" for m in stored) == sorted(f"c-{number}" for number in range(20))


async def test_writer_reconnects_when_the_database_drops_its_connection(postgres_url: str) -> None:
    store = Store(postgres_url)
    engine = await store.engine()
    writer = MessageWriter(engine)
    writer.ping_after_idle_s = 0.0  # ping before every batch, as after a quiet spell
    writer.start()
    try:
        tenant = await store.tenant()
        sid = session_id()
        assert (await writer.append(tenant.id, sid, "visitor", "before")).message.seq == 1
        assert writer._connection is not None
        backend_pid = (await writer._connection.exec_driver_sql("SELECT pg_backend_pid()")).scalar()
        await writer._connection.rollback()
        async with engine.connect() as admin:
            await admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(backend_pid)})")
        after = await writer.append(tenant.id, sid, "visitor", "after the database hung up")
        assert after.message.seq == 2, "the dead connection was noticed and replaced, nothing failed"
        assert [m.text for m in await messages_after(engine, tenant.id, sid, 0)] == [
            "before",
            "after the database hung up",
        ]
    finally:
        await writer.stop()
        await store.close()


async def test_a_pooled_connection_the_database_dropped_while_idle_is_replaced_before_a_read(
    postgres_url: str,
) -> None:
    store = Store(postgres_url)
    engine = await store.engine()
    try:
        tenant = await store.tenant()
        async with reading(engine) as connection:
            pid = (await connection.exec_driver_sql("SELECT pg_backend_pid()")).scalar()
        other = open_engine(postgres_url)
        try:
            async with other.connect() as admin:
                await admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        finally:
            await other.dispose()
        await asyncio.sleep(PING_AFTER_IDLE_S + 0.2)  # idle long enough to be pinged at checkout
        assert await get_session(engine, tenant.id, session_id()) is None, "the read went through"
        async with reading(engine) as connection:
            assert (await connection.exec_driver_sql("SELECT pg_backend_pid()")).scalar() != pid
    finally:
        await store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_newest_migration_goes_down_and_up_again(kind: str, tmp_path: Path) -> None:
    def step(connection: Connection, target: str) -> None:
        config = alembic_config(connection)
        if target == "head":
            command.upgrade(config, target)
        else:
            command.downgrade(config, target)

    async def round_trip(url: str) -> None:
        engine = open_engine(url)
        try:
            await migrate(engine)
            for target in ("-1", "head"):
                async with engine.begin() as connection:
                    await connection.run_sync(step, target)
            writer = MessageWriter(engine)
            writer.start()
            tenant = await create_tenant(engine, name="Migrations", business_id="migrations", origins=())
            result = await writer.append(tenant.id, session_id(), "visitor", "after the round trip")
            await writer.stop()
            assert result.message.seq == 1
        finally:
            await engine.dispose()

    # A database of its own (the migration changes the schema), so this test is synchronous.
    with contextlib.ExitStack() as stack:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'migrations.sqlite3'}"
        else:
            url = stack.enter_context(postgres_for_tests())
        asyncio.run(round_trip(url))


class FanoutFails(Publisher):
    """A node that dies, or whose fan-out breaks, right after the commit."""

    def session(self, tenant_id: str, session_id: str, seq: int, frame: bytes) -> None:
        raise RuntimeError("the fan-out failed after the commit")

    def announce(self, tenant_id: str, change: SessionChange) -> None:
        raise RuntimeError("the fan-out failed after the commit")


def chat_on(store: Store, writer: MessageWriter, publisher_class: type[Publisher] = Publisher) -> ChatService:
    engine = store.engines[0]
    publisher = publisher_class(Fanout(MemoryBroker(MemoryBackplane()), "node-t"), Keys("outbox-test"))
    return ChatService(engine, writer, publisher, Webhooks(engine, allow_private=False), lambda t, s: False)


async def deliveries(store: Store, tenant_id: str) -> list[tuple[str, dict[str, object]]]:
    async with store.engines[0].connect() as connection:
        rows = await connection.execute(
            select(webhook_deliveries.c.event_type, webhook_deliveries.c.payload)
            .where(webhook_deliveries.c.tenant_id == tenant_id)
            .order_by(webhook_deliveries.c.created_at, webhook_deliveries.c.event_type.desc())
        )
        return [(kind, orjson.loads(payload)) for kind, payload in rows]


async def test_a_failure_after_the_commit_loses_no_event_of_the_stored_message(
    store: Store,
    writer: MessageWriter,
) -> None:
    tenant = await store.tenant()
    events = ["session.created", "message.created"]
    await create_endpoint(store.engines[0], tenant.id, "https://hooks.example.com/bob", events, "")
    chat = chat_on(store, writer, FanoutFails)
    sid = session_id()
    with pytest.raises(RuntimeError):
        await chat.post(tenant.id, sid, "visitor", "hello", client_id="c-1")
    [message] = await messages_after(store.engines[0], tenant.id, sid, 0)
    stored = await deliveries(store, tenant.id)
    assert [kind for kind, _ in stored] == events, "both events are in the outbox although the fan-out failed"
    created, said = (payload for _, payload in stored)
    assert created["data"] == {"session_id": sid}
    assert said["data"]["message"]["id"] == message.id and said["data"]["message"]["seq"] == 1  # type: ignore[index]

    retry = await chat.post(tenant.id, sid, "visitor", "hello", client_id="c-1")
    assert retry.message.duplicate and len(await deliveries(store, tenant.id)) == 2, "a retry makes no new event"


async def test_events_of_a_batch_are_written_with_it_and_only_for_tenants_that_listen(
    store: Store,
    writer: MessageWriter,
) -> None:
    listening, quiet = await store.tenant(), await store.tenant()
    await create_endpoint(store.engines[0], listening.id, "https://hooks.example.com/a", ["message.created"], "")
    chat = chat_on(store, writer)
    sessions = [session_id() for _ in range(5)]
    await asyncio.gather(
        *(
            chat.post(tenant.id, sessions[number % 5], "visitor", f"m{number}")
            for number in range(100)
            for tenant in (listening, quiet)
        ),
        chat.post(listening.id, sessions[0], "system", "a notice is not a message.created event"),
    )
    stored = await deliveries(store, listening.id)
    assert len(stored) == 100 and {kind for kind, _ in stored} == {"message.created"}
    seqs = sorted(
        (payload["data"]["session_id"], payload["data"]["message"]["seq"])  # type: ignore[index]
        for _, payload in stored
    )
    assert len(set(seqs)) == 100, "one event per message, each with its own seq"
    assert await deliveries(store, quiet.id) == []


async def test_a_takeover_event_commits_with_the_change_of_mode(
    store: Store,
    writer: MessageWriter,
) -> None:
    tenant = await store.tenant()
    await create_endpoint(store.engines[0], tenant.id, "https://hooks.example.com/b", ["session.takeover"], "")
    chat = chat_on(store, writer, FanoutFails)
    sid = session_id()
    await writer.append(tenant.id, sid, "visitor", "hi")
    with pytest.raises(RuntimeError):
        event = ("session.takeover", {"session_id": sid, "agent": {"id": "a1", "name": "Anna"}, "forced": False})
        await chat.change(tenant.id, sid, SessionChange(id=sid, mode="human"), event)
    state = await get_session(store.engines[0], tenant.id, sid)
    assert state is not None and state.mode == "human"
    assert [kind for kind, _ in await deliveries(store, tenant.id)] == ["session.takeover"]
