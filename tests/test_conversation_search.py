"""Search over a tenant's conversations (``GET /api/conversations/search``): visitor messages, AI and agent
replies and staff notes, in the store's own full-text index, the same on SQLite (FTS5) and PostgreSQL
(tsvector + GIN); English and Polish words found in other forms and without their accents; another tenant's
conversations never found; bad queries refused with the error shape."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from hub.chat.control import Agent
from hub.chat.search import find
from hub.settings import Settings
from hub.store.database import migrate, open_engine
from hub.store.models import Tenant
from hub.store.search_index import Entry
from hub.store.tables import chat_sessions, messages, notes
from tests.accounts import create_tenant
from tests.agents import agent_account, login
from tests.conftest import RunningHub, serve_hub
from tests.old_hubs import database_at

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


def marked(result: dict[str, Any]) -> list[str]:
    return [part["text"] for part in result["snippet"] if part.get("mark")]


async def test_words_spread_over_a_conversations_messages_and_notes_find_it(any_hub: RunningHub, shop: Shop) -> None:
    """The visitor said one word in a message and another in the next, staff the third in a note."""
    spread = f"s_spread_{uuid.uuid4().hex[:10]}"
    await say(any_hub, shop.tenant, spread, "visitor", "My brakes are broken since Monday")
    await say(any_hub, shop.tenant, spread, "ai", "Sorry to hear that! Bring the bike in and we will look.")
    await say(any_hub, shop.tenant, spread, "visitor", "I would rather get a refund")
    author = Agent(str(uuid.uuid4()), "Anna")
    await any_hub.node.notes.write(shop.tenant, spread, author, "Klient pisał już o hamulcach w zeszłym tygodniu")
    [result] = (await shop.search("refund broken hamulec")).json()["results"]
    assert result["session_id"] == spread and result["matches"] == 3
    # Each item holds one word: the newest leads, and the others show where the rest are, newest first.
    assert result["kind"] == "note" and marked(result) == ["hamulcach"]
    assert [(also["role"], also["seq"], marked(also)) for also in result["also"]] == [
        ("visitor", 3, ["refund"]),
        ("visitor", 1, ["broken"]),
    ]
    assert await shop.found("broken refund") == [spread]
    assert await shop.found("refunds") == [spread, shop.noted, shop.english], "one word: the newest match first"
    assert await shop.found("broken helmet") == [], "every word must be in the one conversation"


async def test_a_conversation_saying_every_word_in_one_message_comes_before_one_spreading_them(
    any_hub: RunningHub, shop: Shop
) -> None:
    close, loose = (f"s_{kind}_{uuid.uuid4().hex[:10]}" for kind in ("close", "loose"))
    await say(any_hub, shop.tenant, close, "visitor", "The chain on my bike snapped, can I get a refund?")
    await say(any_hub, shop.tenant, loose, "visitor", "The chain snapped on the first ride")
    await say(any_hub, shop.tenant, loose, "agent", "So sorry! We will send a new chain.", author="Anna")
    await say(any_hub, shop.tenant, loose, "visitor", "I'd prefer my money back: refund please")
    results = (await shop.search("chain refund")).json()["results"]
    assert [result["session_id"] for result in results] == [close, loose], "the closer match first, though older"
    first, second = results
    assert marked(first) == ["chain", "refund"] and first["also"] == []
    assert marked(second) == ["refund"] and second["seq"] == 3, "the newest of the items holding the most words"
    assert [(also["seq"], marked(also)) for also in second["also"]] == [(2, ["chain"])], "the newest with the other"
    assert await shop.found("chain") == [loose, close], "one word: the newest match first"


# Conversations saying one form of a word, and the queries of other forms that must find them.
ALTERNATING = {
    "hamulce": ("Tylne hamulce piszczą przy hamowaniu", ["hamulec", "hamulca", "hamulców"]),
    "hamulec": ("Wymieniłem hamulec w zeszłym miesiącu", ["hamulce", "hamulcami"]),
    "psa": ("Zostawię psa przed sklepem", ["pies", "psy"]),
    "pies": ("Czy pies może wejść do środka?", ["psa", "psem"]),
    "kościele": ("Odbiór paczki przy kościele", ["kościół", "kosciol", "kościoła"]),
    "kościół": ("Za sklepem stoi kościół", ["kościele", "kosciele"]),
    "ręce": ("Mam brudne ręce od smaru", ["ręka", "reka", "rękach", "rąk"]),
    "ręka": ("Boli mnie ręka po upadku", ["ręce", "rece", "rąk"]),
    "rąk": ("Nie mam wolnych rąk", ["ręka", "reka", "ręce", "rąk", "rak"]),  # ą and ę alternate
    "ząb": ("Złamałem ząb na orzechu", ["zęby", "zębem", "zeba"]),
    "zęba": ("Wyrwali mi zęba", ["ząb", "zęby"]),
    "tydzień": ("Odbiorę rower za tydzień", ["tygodnia", "tygodniu", "tydzien"]),  # irregular stems
    "dni": ("Naprawa trwa trzy dni", ["dzień", "dnia"]),  # not "zab": without its accent, it could be any a
}


async def test_polish_words_are_found_whatever_their_stem_alternates_to(any_hub: RunningHub, shop: Shop) -> None:
    said = {}
    for form, (words, _) in ALTERNATING.items():
        said[form] = f"s_{uuid.uuid4().hex[:10]}"
        await say(any_hub, shop.tenant, said[form], "visitor", words)
    for form, (_, queries) in ALTERNATING.items():
        for query in queries:
            results = (await shop.search(query)).json()["results"]
            found = {result["session_id"]: marked(result) for result in results}
            assert said[form] in found, (form, query)
            assert found[said[form]] == [form], "the form the conversation holds is marked"
    assert said["ręka"] not in await shop.found("rok"), "a key is not a prefix: 'rok' is not 'ręka'"
    assert said["pies"] not in await shop.found("pas")
    assert await shop.found("hamulec piszczy") == [said["hamulce"]], "both words, each in its own form"


async def test_a_conversation_id_two_tenants_use_never_joins_their_words(any_hub: RunningHub, shop: Shop) -> None:
    """A session id is the tenant's own: another tenant may hold the same one, and its words stay its own."""
    session_id = f"s_same_{uuid.uuid4().hex[:10]}"
    stranger = await any_hub.tenant()
    await say(any_hub, shop.tenant, session_id, "visitor", "My brakes are broken")
    await say(any_hub, stranger, session_id, "visitor", "Where is my voucher?")
    assert await shop.found("broken voucher") == []
    assert await shop.found("broken") == [session_id]
    assert await shop.found("voucher") == []
    bea = await login(any_hub.http, await agent_account(any_hub.node.engine, stranger.id, "Bea"))
    async with httpx.AsyncClient(base_url=any_hub.http, headers={"Authorization": f"Bearer {bea['token']}"}) as http:
        response = await http.get("/api/conversations/search", params={"q": "voucher broken"})
        assert response.status_code == 200 and response.json()["results"] == []
        response = await http.get("/api/conversations/search", params={"q": "voucher"})
        [result] = response.json()["results"]
        assert result["session_id"] == session_id and marked(result) == ["voucher"] and result["also"] == []


async def test_a_message_holding_a_word_too_long_to_index_is_stored_and_found_by_its_other_words(
    any_hub: RunningHub, shop: Shop
) -> None:
    session_id = f"s_long_{uuid.uuid4().hex[:10]}"
    await say(any_hub, shop.tenant, session_id, "visitor", "My voucher code is " + "x9" * 1500 + " and it fails")
    assert await shop.found("voucher fails") == [session_id]


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


@pytest.mark.parametrize(
    ("condition", "index"),
    [
        ("words @@ CAST('refund:*' AS tsquery)", "ix_conversation_search_words"),
        ("keys @@ CAST('hamulk' AS tsquery)", "ix_conversation_search_keys"),
    ],
)
async def test_postgresql_can_look_each_word_up_in_its_gin_indexes(
    postgres_url: str, pg_tenant: Tenant, condition: str, index: str
) -> None:
    """Each word of a search is one lookup the planner may answer from an index (when the table is large enough
    to prefer it: here sequential scans are switched off to ask whether it can)."""
    engine = open_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SET enable_seqscan = off"))
            query = f"EXPLAIN SELECT item_id FROM conversation_search WHERE tenant_id = 'x' AND {condition}"
            plan = "\n".join(row[0] for row in await connection.execute(text(query)))
    finally:
        await engine.dispose()
    assert index in plan, plan


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_messages_and_notes_written_before_the_migration_are_found(
    backend: str, tmp_path: Path, postgres_url: str
) -> None:
    """Upgrading a hub with history: what its visitors and staff wrote before is searchable at once, with the
    Polish forms and across a conversation's items (migration 0023 indexes it)."""
    async with database_at("0021", backend, tmp_path, postgres_url) as engine:
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
                    text="Czy naprawiacie hamulce w rowerach elektrycznych?", created_at=now,
                )
            )  # fmt: skip
            await connection.execute(
                notes.insert().values(
                    id=str(uuid.uuid4()), tenant_id=tenant.id, session_id="s_old", author_id=str(uuid.uuid4()),
                    author_name="Anna", text="Klient czeka na zwrot za kask", mentions=[], after_seq=1,
                    created_at=now,
                )
            )  # fmt: skip
        await migrate(engine)
        for query in ("rowerów", "hamulec zwrot"):  # the forms of a word; words in a message and in a note
            found, more = await find(engine, tenant.id, query, limit=5, offset=0)
            assert [item.hit.session_id for item in found] == ["s_old"] and not more, query


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_words_indexed_before_the_polish_keys_grew_are_found_by_their_other_forms(
    backend: str, tmp_path: Path, postgres_url: str
) -> None:
    """Index entries made before ą had the key of its ę form, and before "tydzień" met "tygodnia": migration 0025
    makes them again, once each."""
    said = {
        "s_nasal": ("Nie mam wolnych rąk", "nie mam wolnych rak", "ręka", ["rąk"]),
        "s_week": ("Odbiorę rower za tydzień", "odbiore rower tydzn", "tygodnia", ["tydzień"]),
        "s_other": ("Zwrot za kask", "zwrot kask", "kask", ["kask"]),
    }
    async with database_at("0023", backend, tmp_path, postgres_url) as engine:
        tenant = await create_tenant(engine, name="Old Shop", business_id=f"old-{uuid.uuid4().hex[:8]}")
        now, ids = datetime.now(UTC), {}
        async with engine.begin() as connection:
            for session_id, (words, old_keys, _, _) in said.items():
                ids[session_id] = str(uuid.uuid4())
                await connection.execute(
                    chat_sessions.insert().values(
                        tenant_id=tenant.id, id=session_id, last_seq=1, created_at=now, updated_at=now
                    )
                )
                await connection.execute(
                    messages.insert().values(
                        id=ids[session_id], tenant_id=tenant.id, session_id=session_id, seq=1, role="visitor",
                        text=words, created_at=now,
                    )
                )  # fmt: skip
                entry = Entry(ids[session_id], tenant.id, session_id, "message", now, words).values()
                entry["keys"] = old_keys  # as 0023 made it
                await connection.execute(_OLD_ENTRY[backend], entry)
        assert (await find(engine, tenant.id, "ręka", limit=5, offset=0))[0] == []
        assert (await find(engine, tenant.id, "tygodnia", limit=5, offset=0))[0] == []
        await migrate(engine)
        table = "conversation_search" if backend == "postgresql" else "conversation_fts"
        for session_id, (_, _, query, marked) in said.items():
            found, _ = await find(engine, tenant.id, query, limit=5, offset=0)
            assert [item.hit.session_id for item in found] == [session_id], query
            assert [text for text, mark in found[0].best.snippet.parts() if mark] == marked
            async with engine.connect() as connection:
                count = await connection.execute(
                    text(f"SELECT count(*) FROM {table} WHERE item_id = :id"), {"id": ids[session_id]}
                )
                assert count.scalar() == 1, "the old entry was replaced, not joined"


_OLD_ENTRY = {
    "sqlite": text(
        "INSERT INTO conversation_fts (item_id, session_id, kind, created_at, tenant, words, keys) "
        "VALUES (:item_id, :session_id, :kind, :sortable_at, :tenant, :words, :keys)"
    ),
    "postgresql": text(
        "INSERT INTO conversation_search (item_id, tenant_id, session_id, kind, created_at, words, keys) "
        "VALUES (:item_id, :tenant_id, :session_id, :kind, :created_at, CAST(:words AS tsvector), "
        "CAST(:keys AS tsvector))"
    ),
}


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
