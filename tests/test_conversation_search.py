"""Search over a tenant's conversations (``GET /api/conversations/search``): visitor messages, AI and agent
replies and staff notes, in the store's own full-text index, the same on SQLite (FTS5) and PostgreSQL
(tsvector + GIN); English and Polish words found in other forms and without their accents; another tenant's
conversations never found; bad queries refused with the error shape."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from alembic import command
from sqlalchemy import text

from hub.chat.control import Agent
from hub.chat.search import find
from hub.settings import Settings
from hub.store import search as store_search
from hub.store.database import alembic_config, migrate, open_engine
from hub.store.models import Tenant
from hub.store.tables import chat_sessions, messages
from tests.accounts import create_tenant
from tests.agents import agent_account, login
from tests.conftest import RunningHub, serve_hub

POLISH = "Dzień dobry, gdzie jest moje zamówienie? Płacę kartą, mieszkam w Łodzi."
POLISH_REPLY = "Zamówienia wysyłamy w ciągu dwóch dni roboczych."
ENGLISH = "My brakes are squeaking after the last service"
AGENT_REPLY = "We refunded the shipping cost yesterday."
NOTE = "Customer wants a refund for the damaged helmet, order 58213"


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_hub(request: pytest.FixtureRequest, settings: Settings, postgres_url: str) -> AsyncIterator[RunningHub]:
    if request.param == "postgresql":
        settings = dataclasses.replace(settings, database_url=postgres_url)
    async with serve_hub(dataclasses.replace(settings, ai_provider="none")) as running:
        yield running


@dataclasses.dataclass
class Shop:
    tenant: Tenant
    polish: str
    english: str
    noted: str
    http: httpx.AsyncClient

    async def search(self, q: str, **params: Any) -> httpx.Response:
        return await self.http.get("/api/conversations/search", params={"q": q, **params})

    async def found(self, q: str) -> list[str]:
        response = await self.search(q)
        assert response.status_code == 200, response.text
        return [result["session_id"] for result in response.json()["results"]]


async def say(hub: RunningHub, tenant: Tenant, session_id: str, role: str, words: str, **meta: Any) -> None:
    await hub.node.writer.append(tenant.id, session_id, role, words, meta=meta or None)


@pytest.fixture
async def shop(any_hub: RunningHub) -> AsyncIterator[Shop]:
    hub = any_hub
    tenant = await hub.tenant()
    anna = await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Anna"))
    polish, english, noted = (f"s_{kind}_{uuid.uuid4().hex[:10]}" for kind in ("pl", "en", "note"))
    await say(hub, tenant, polish, "visitor", POLISH)
    await say(hub, tenant, polish, "ai", POLISH_REPLY)
    await say(hub, tenant, english, "visitor", ENGLISH)
    await say(hub, tenant, english, "system", "Anna joined the chat", event="takeover")
    await say(hub, tenant, english, "agent", AGENT_REPLY, author="Anna")
    await say(hub, tenant, noted, "visitor", "hi there")
    await hub.node.notes.write(tenant, noted, Agent(anna["user"]["id"], "Anna"), NOTE)
    # Another tenant says the same words: it must never be found.
    other = await hub.tenant()
    for role, words in (("visitor", POLISH), ("ai", POLISH_REPLY), ("visitor", ENGLISH), ("agent", AGENT_REPLY)):
        await say(hub, other, f"s_other_{uuid.uuid4().hex[:10]}", role, words)
    elsewhere = f"s_other_{uuid.uuid4().hex[:10]}"
    await say(hub, other, elsewhere, "visitor", "hello")
    await hub.node.notes.write(other, elsewhere, Agent(str(uuid.uuid4()), "Bea"), NOTE)
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {anna['token']}"}) as http:
        yield Shop(tenant, polish, english, noted, http)


async def test_polish_words_are_found_in_other_forms_and_without_accents(shop: Shop) -> None:
    response = await shop.search("zamówieniu")  # locative: the visitor wrote "zamówienie", the AI "Zamówienia"
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["session_id"] == shop.polish and result["matches"] == 2
    assert result["role"] == "ai" and result["kind"] == "message" and result["seq"] == 2, "the newest match"
    assert result["snippet"] == [{"text": "Zamówienia", "mark": True}, {"text": " " + POLISH_REPLY.split(" ", 1)[1]}]
    assert result["status"] == "open" and result["mode"] == "ai" and result["note_id"] is None
    for query in ("zamowienie", "ZAMÓWIEŃ", "łódź", "lodz", "karty", "płacę kartą"):
        assert await shop.found(query) == [shop.polish], query
    [visitor] = (await shop.search("kartą Łodzi")).json()["results"]
    assert [part["text"] for part in visitor["snippet"] if part.get("mark")] == ["kartą", "Łodzi"]
    assert visitor["role"] == "visitor" and visitor["seq"] == 1


async def test_english_words_are_found_in_other_forms_in_agent_replies_and_notes(shop: Shop) -> None:
    assert await shop.found("squeaked brake") == [shop.english]
    refunds = (await shop.search("Refunds")).json()["results"]
    assert [r["session_id"] for r in refunds] == [shop.noted, shop.english], "newest match first"
    note, reply = refunds
    assert note["kind"] == "note" and note["role"] == "note" and note["author"] == "Anna" and note["note_id"]
    assert note["seq"] is None and {"text": "refund", "mark": True} in note["snippet"]
    assert reply["role"] == "agent" and reply["author"] == "Anna" and reply["seq"] == 3
    assert await shop.found("58213") == [shop.noted], "an order number in a note"
    assert await shop.found("helmet refund") == [shop.noted]
    assert await shop.found("joined") == [], "system messages are not searched"
    assert await shop.found("helmet squeaking") == [], "every word must match in one message or note"
    assert await shop.found("helicopter") == []
    assert await shop.found("the") == [shop.noted, shop.english], "a query of common words only searches them"


async def test_results_come_in_pages(shop: Shop) -> None:
    first = (await shop.search("refund", limit=1)).json()
    assert [r["session_id"] for r in first["results"]] == [shop.noted] and first["next_offset"] == 1
    second = (await shop.search("refund", limit=1, offset=1)).json()
    assert [r["session_id"] for r in second["results"]] == [shop.english] and second["next_offset"] is None


async def test_another_tenant_finds_nothing_of_this_one(any_hub: RunningHub, shop: Shop) -> None:
    stranger = await any_hub.tenant()
    bea = await login(any_hub.http, await agent_account(any_hub.node.engine, stranger.id, "Bea"))
    async with httpx.AsyncClient(base_url=any_hub.http, headers={"Authorization": f"Bearer {bea['token']}"}) as http:
        for query in ("zamówienie", "refund", "helmet", "brakes"):
            response = await http.get("/api/conversations/search", params={"q": query})
            assert response.status_code == 200 and response.json()["results"] == [], query
        other = await http.get(
            "/api/conversations/search", params={"q": "refund", "business_id": shop.tenant.business_id}
        )
        assert other.status_code == 403
    # The other tenant of the fixture wrote the same words: this tenant finds only its own.
    assert await shop.found("zamówienie") == [shop.polish]
    assert await shop.found("helmet") == [shop.noted]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({}, "'q' is required"),
        ({"q": ""}, "'q'"),
        ({"q": "x" * 201}, "'q'"),
        ({"q": "!!! ?? …"}, "no word to search for"),
        ({"q": "refund", "limit": "0"}, "'limit'"),
        ({"q": "refund", "limit": "51"}, "'limit'"),
        ({"q": "refund", "offset": "-1"}, "'offset'"),
        ({"q": "refund", "offset": "1001"}, "'offset'"),
        ({"q": "refund", "limit": "ten"}, "'limit'"),
    ],
)
async def test_a_bad_query_is_a_400_that_says_what_is_wrong(hub: RunningHub, params: dict[str, str], says: str) -> None:
    tenant = await hub.tenant()
    anna = await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Anna"))
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {anna['token']}"}) as http:
        response = await http.get("/api/conversations/search", params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and says in error["message"], error


async def test_search_is_for_logged_in_staff(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as anonymous:
        response = await anonymous.get("/api/conversations/search", params={"q": "refund"})
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"


def test_postgresql_searches_the_expression_the_indexes_hold() -> None:
    migration = import_module("hub.store.migrations.versions.0018_notes_search")
    assert migration.PG_DOCUMENT == store_search.PG_DOCUMENT.format("text")


@pytest.mark.parametrize(("table", "index"), [("messages", "ix_messages_search"), ("notes", "ix_notes_search")])
async def test_postgresql_can_answer_the_search_from_its_gin_indexes(
    postgres_url: str, pg_tenant: Tenant, table: str, index: str
) -> None:
    """The document searched is the indexed expression, so the planner may use the index (when the table is
    large enough to prefer it: here sequential scans are switched off to ask whether it can)."""
    document = store_search.PG_DOCUMENT.format("text")
    engine = open_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SET enable_seqscan = off"))
            query = f"EXPLAIN SELECT id FROM {table} WHERE {document} @@ to_tsquery('simple', 'refund:* & 58213')"
            plan = "\n".join(row[0] for row in await connection.execute(text(query)))
    finally:
        await engine.dispose()
    assert index in plan, plan


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_messages_written_before_the_migration_are_found(backend: str, tmp_path: Path, postgres_url: str) -> None:
    """Upgrading a hub with history: what its visitors wrote before is searchable at once."""
    async with contextlib.AsyncExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
        else:
            url = await stack.enter_async_context(fresh_database(postgres_url))
        await upgrade_old_hub(url)


async def upgrade_old_hub(url: str) -> None:
    engine = open_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "0016"))
        tenant = await create_tenant(engine, name="Old Shop", business_id=f"old-{uuid.uuid4().hex[:8]}")
        now = datetime.now(UTC)
        async with engine.begin() as connection:
            await connection.execute(
                chat_sessions.insert().values(
                    tenant_id=tenant.id, id="s_old", last_seq=1, created_at=now, updated_at=now
                )
            )
            await connection.execute(
                messages.insert().values(
                    id=str(uuid.uuid4()), tenant_id=tenant.id, session_id="s_old", seq=1, role="visitor",
                    text="Czy naprawiacie rowery elektryczne?", created_at=now,
                )
            )  # fmt: skip
        await migrate(engine)
        found, more = await find(engine, tenant.id, "rowerów", limit=5, offset=0)
        assert [item.hit.session_id for item in found] == ["s_old"] and not more
    finally:
        await engine.dispose()


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


async def test_postgresqls_faster_fold_gives_what_the_first_one_gave(postgres_url: str, pg_tenant: Tenant) -> None:
    """Migration 0018 lets ASCII text skip the accents' translate; the knowledge index relies on the same output."""
    migration = import_module("hub.store.migrations.versions.0018_notes_search")
    samples = [
        "Plain English, E-Bike and e-bikes!",
        "Zażółć GĘŚLĄ jaźń, e-rower",
        "Straße Čeština Ñandú İstanbul",
        "emoji 🚲 and\ttabs\nnew lines",
        "",
        "x-ray 12-3 a-b-c",
    ]
    first = migration.FOLD_0014.replace("value", ":value")
    engine = open_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            for sample in samples:
                row = (await connection.execute(text(f"SELECT hub_fold(:value), {first}"), {"value": sample})).one()
                assert row[0] == row[1], sample
    finally:
        await engine.dispose()
