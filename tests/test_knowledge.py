"""Knowledge entries: CRUD and bulk import for owners and admins, limits, tenant isolation, and every change
found by the next search on every node."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from hub.knowledge import KnowledgeBase
from hub.knowledge.text import Vocabulary, fold, is_stopword, stem, terms, words
from hub.settings import Settings
from tests.agents import agent_account, login
from tests.conftest import RunningHub, two_hubs

ENTRY = {
    "title": "Opening hours",
    "body": "We are open **Monday to Friday**, 9:00-18:00.",
    "url": "https://shop.example.com/hours",
    "language": "en",
}


async def client_for(hub: RunningHub, tenant_id: str, role: str = "owner") -> httpx.AsyncClient:
    token = (await login(hub.http, await agent_account(hub.node.engine, tenant_id, "Olga", role)))["token"]
    return httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"})


async def test_owner_adds_reads_changes_and_deletes_knowledge_entries(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with await client_for(hub, tenant.id) as client:
        assert (await client.get("/api/knowledge")).json() == {"entries": []}
        created = await client.post("/api/knowledge", json=ENTRY)
        assert created.status_code == 201
        entry = created.json()
        assert {key: entry[key] for key in ENTRY} == ENTRY and entry["enabled"] is True
        assert (await client.get(f"/api/knowledge/{entry['id']}")).json() == entry
        assert (await client.get("/api/knowledge")).json()["entries"] == [entry]

        patched = (await client.patch(f"/api/knowledge/{entry['id']}", json={"enabled": False, "url": None})).json()
        assert patched["enabled"] is False and patched["url"] is None and patched["title"] == ENTRY["title"]
        put = await client.put(f"/api/knowledge/{entry['id']}", json={"title": "  Hours  ", "language": "pl"})
        assert put.json()["title"] == "Hours" and put.json()["language"] == "pl"

        assert (await client.delete(f"/api/knowledge/{entry['id']}")).status_code == 204
        assert (await client.get(f"/api/knowledge/{entry['id']}")).status_code == 404
        assert (await client.patch(f"/api/knowledge/{entry['id']}", json={"title": "x"})).status_code == 404
        assert (await client.delete(f"/api/knowledge/{entry['id']}")).status_code == 404


async def test_bad_knowledge_entries_are_refused_with_the_field_named(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    bad: list[tuple[dict[str, Any], str]] = [
        ({**ENTRY, "title": ""}, "title"),
        ({**ENTRY, "title": "   "}, "title"),
        ({**ENTRY, "title": "x" * 201}, "title"),
        ({**ENTRY, "body": "x" * 20_001}, "body"),
        ({**ENTRY, "url": "javascript:alert(1)"}, "url"),
        ({**ENTRY, "language": "de"}, "language"),
        ({**ENTRY, "enabled": "yes"}, "enabled"),
        ({"title": "No body"}, "body"),
    ]
    async with await client_for(hub, tenant.id) as client:
        for body, field in bad:
            refused = await client.post("/api/knowledge", json=body)
            assert refused.status_code == 400, body
            assert refused.json()["error"]["code"] == "invalid_input" and field in refused.json()["error"]["message"]
        assert (await client.get("/api/knowledge")).json() == {"entries": []}


async def test_agents_cannot_manage_knowledge_and_admins_can_for_any_tenant(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with await client_for(hub, tenant.id, "agent") as agent:
        assert (await agent.get("/api/knowledge")).status_code == 403
        assert (await agent.post("/api/knowledge", json=ENTRY)).status_code == 403
    async with await client_for(hub, tenant.id, "admin") as admin:
        assert (await admin.post("/api/knowledge", json=ENTRY)).status_code == 201


async def test_markdown_and_csv_imports_create_every_entry_or_none(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    markdown = {
        "format": "markdown",
        "language": "pl",
        "files": [
            {"name": "godziny.md", "content": "Wstęp.\n\n# Godziny otwarcia\n\nOd poniedziałku do piątku.\n"},
            {"name": "no_heading.md", "content": "Just text."},
        ],
    }
    csv_text = (
        "title,body,url,language,enabled\n"
        'Returns,"Return within 30 days, unused.",https://shop.example.com/returns,en,true\n'
        "Wysyłka,Wysyłamy w 24 godziny.,,pl,false\n"
    )
    async with await client_for(hub, tenant.id) as client:
        imported = await client.post("/api/knowledge/import", json=markdown)
        assert imported.status_code == 201 and imported.json()["created"] == 2
        first, second = imported.json()["entries"]
        assert first["title"] == "Godziny otwarcia" and first["body"] == "Wstęp.\n\n\nOd poniedziałku do piątku."
        assert first["language"] == "pl" and second["title"] == "no heading"

        csv_import = await client.post(
            "/api/knowledge/import", json={"format": "csv", "files": [{"name": "faq.csv", "content": csv_text}]}
        )
        assert csv_import.status_code == 201
        returns, shipping = csv_import.json()["entries"]
        assert (
            returns["url"] == "https://shop.example.com/returns" and returns["body"] == "Return within 30 days, unused."
        )
        assert shipping["language"] == "pl" and shipping["enabled"] is False and shipping["url"] is None

        one_bad_row = csv_text + "Broken,,,en,true\n"
        refused = await client.post(
            "/api/knowledge/import", json={"format": "csv", "files": [{"name": "faq.csv", "content": one_bad_row}]}
        )
        assert refused.status_code == 400 and "faq.csv row 4" in refused.json()["error"]["message"]
        no_header = await client.post(
            "/api/knowledge/import", json={"format": "csv", "files": [{"name": "x.csv", "content": "a,b\n1,2\n"}]}
        )
        assert no_header.status_code == 400
        assert len((await client.get("/api/knowledge")).json()["entries"]) == 4, "a refused import writes nothing"


async def test_no_knowledge_entry_reaches_another_tenant(hub: RunningHub) -> None:
    tenant_a, tenant_b = await hub.tenant(), await hub.tenant()
    async with await client_for(hub, tenant_a.id) as client_a, await client_for(hub, tenant_b.id) as client_b:
        secret = (await client_a.post("/api/knowledge", json={**ENTRY, "title": "Secret discount code"})).json()
        assert (await client_b.get("/api/knowledge")).json() == {"entries": []}
        for method in ("GET", "PATCH", "PUT", "DELETE"):
            body = {"title": "mine"} if method in ("PATCH", "PUT") else None
            answer = await client_b.request(method, f"/api/knowledge/{secret['id']}", json=body)
            assert answer.status_code == 404, method
        assert (await client_a.get(f"/api/knowledge/{secret['id']}")).json()["title"] == "Secret discount code"
    knowledge = hub.node.knowledge
    assert [p.title for p in await knowledge.search(tenant_a.id, "secret discount code")] == ["Secret discount code"]
    assert await knowledge.search(tenant_b.id, "secret discount code") == ()


async def test_search_ranks_enabled_entries_folds_accents_and_prefers_the_asked_language(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with await client_for(hub, tenant.id) as client:
        entries = [
            {"title": "Wymiana łańcucha", "body": "Wymiana łańcucha kosztuje 100 zł.", "language": "pl"},
            {"title": "Chain replacement", "body": "A new chain costs $25.", "language": "en"},
            {"title": "Old chain offer", "body": "Chain sale, ended.", "language": "en", "enabled": False},
        ]
        for entry in entries:
            assert (await client.post("/api/knowledge", json=entry)).status_code == 201
    knowledge = hub.node.knowledge
    polish = await knowledge.search(tenant.id, "ile kosztuje wymiana lancucha", "pl")
    assert polish[0].title == "Wymiana łańcucha"
    english = await knowledge.search(tenant.id, "chain", "en")
    assert [p.title for p in english][:1] == ["Chain replacement"]
    assert "Old chain offer" not in {p.title for p in english}, "a disabled entry is never found"
    assert await knowledge.search(tenant.id, "the and of", "en") == ()


async def test_a_search_that_takes_too_long_finds_nothing_and_the_reply_goes_on(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    slow = KnowledgeBase(hub.node.engine, hub.node.fanout, hub.node.keys, timeout_s=0.05)

    async def stuck(*_args: Any) -> Any:
        await asyncio.sleep(5)

    slow._ask = stuck  # type: ignore[method-assign]  # a database that does not answer
    async with await client_for(hub, tenant.id) as client:
        await client.post("/api/knowledge", json=ENTRY)
    started = time.monotonic()
    assert await slow.search(tenant.id, "opening hours") == ()
    assert time.monotonic() - started < 1


def test_the_python_fold_matches_the_postgresql_one() -> None:
    from importlib import import_module

    migration = import_module("hub.store.migrations.versions.0014_knowledge")
    assert fold(migration.ACCENTED) == migration.PLAIN


def test_folding_remembers_each_characters_fold_and_gives_what_decomposing_the_whole_text_gives() -> None:
    import unicodedata

    def decomposed(text: str) -> str:
        whole = unicodedata.normalize("NFKD", text.lower().translate(str.maketrans({"ł": "l", "ß": "s"})))
        return "".join(char for char in whole if not unicodedata.combining(char))

    for text in ("Zażółć GĘŚLĄ jaźń", "ΟΔΟΣ Σίσυφος", "ﬁne Straße", "Ångström naïve", "İstanbul 🚲", "plain"):
        assert fold(text) == decomposed(text) == fold(text), text  # the second time from what it remembered


def test_questions_are_read_as_visitors_type_them() -> None:
    # Polish verb forms meet the entry's: an infinitive, "we do", "you do" and the verbal noun share a stem.
    assert stem(fold("umawiać")) == stem(fold("umawiania")) == stem(fold("umawiamy"))
    assert fold("wymieniamy").startswith(stem(fold("wymienić")))
    # A contraction typed without its apostrophe is the stop word it shortens; "shell" is a word.
    assert all(is_stopword(word) for word in ("whats", "dont", "doesnt", "cant", "youre", "ive"))
    assert not any(is_stopword(word) for word in ("shell", "mint", "tent", "bus"))
    # "e bike" is also "ebike", as "e-bike" is.
    assert "ebikes" in words("Do you repair e bikes?") and "ebike" in words("an e-bike")
    vocabulary = Vocabulary(["Flat tyre: 60 zł za koło", "Where to find us: our workshop is at 12 Cycle Street"])
    # A typo is corrected to a synonym's word, which brings the synonyms the entry holds.
    (concept,) = terms("adress", vocabulary).concepts
    assert stem("address") in concept.stems
    assert stem("workshop") in concept.synonyms
    # A short Polish word is the knowledge's word with another final vowel.
    (concept,) = terms("kole", vocabulary).concepts
    assert "kolo" in concept.stems


async def test_a_change_on_one_node_is_found_by_the_next_search_on_the_other(shared_settings: Settings) -> None:
    async with two_hubs(shared_settings) as (node_a, node_b):
        tenant = await node_a.tenant()
        async with await client_for(node_a, tenant.id) as client:
            entry = (await client.post("/api/knowledge", json=ENTRY)).json()
            # node B reads it and caches what it found
            assert [p.title for p in await node_b.node.knowledge.search(tenant.id, "opening hours")] == [ENTRY["title"]]
            await client.patch(f"/api/knowledge/{entry['id']}", json={"title": "Opening hours in summer"})
            deadline = time.monotonic() + 3
            while True:
                found = [p.title for p in await node_b.node.knowledge.search(tenant.id, "opening hours")]
                if found == ["Opening hours in summer"] or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert found == ["Opening hours in summer"]
            await client.delete(f"/api/knowledge/{entry['id']}")
            deadline = time.monotonic() + 3
            while await node_b.node.knowledge.search(tenant.id, "opening hours") and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert await node_b.node.knowledge.search(tenant.id, "opening hours") == ()
