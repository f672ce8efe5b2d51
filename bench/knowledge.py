"""Scenario "knowledge": how well and how fast a tenant's knowledge is found, on SQLite and PostgreSQL.

The bike shop of ``bench.bike_shop`` (English and Polish entries) is loaded into a fresh SQLite file and
into this run's PostgreSQL database, and each question set is asked through ``KnowledgeBase.search`` in
each question's language: the held-out sets of ``bench.held_out`` (written without looking at the search's
word lists, committed before they were measured) and the fixture's own questions, which the synonym
groups were written against (reported, not a target). Reported per backend, set and language: recall@1
and recall@3 (target for the held-out sets: recall@3 >= 90 %), and the latency of a search that asks the
database (p50, p99; the per-tenant result cache is bypassed).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bench.bike_shop import ENTRIES, QUESTIONS
from bench.held_out import HELD_OUT_1, HELD_OUT_2, HELD_OUT_3
from bench.report import Latency, ScenarioResult
from bench.services import BenchEnv
from hub.broker import broker_from_url
from hub.chat.fanout import Fanout
from hub.keys import Keys
from hub.knowledge import KnowledgeBase
from hub.store import knowledge as store
from hub.store.database import migrate, open_engine
from hub.store.tenants import create_tenant

RECALL_TARGET = 0.9
ROUNDS = 5  # each question is asked this many times for the latency
QUICK_ROUNDS = 2

Question = tuple[str, str, str]  # (language, question, key of the entry that answers it)
HELD_OUT: dict[str, Sequence[Question]] = {
    "held-out 1": HELD_OUT_1,
    "held-out 2": HELD_OUT_2,
    "held-out 3": HELD_OUT_3,
}
TUNED = "tuned fixture"  # bench.bike_shop.QUESTIONS: the synonym groups were written with them in view
QUESTION_SETS: dict[str, Sequence[Question]] = {**HELD_OUT, TUNED: QUESTIONS}


@dataclass
class Quality:
    """Per language: questions, hits in the first and in the first three, misses, latency samples."""

    asked: dict[str, int] = field(default_factory=dict)
    first: dict[str, int] = field(default_factory=dict)
    top3: dict[str, int] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)
    samples_ns: list[int] = field(default_factory=list)

    def recall(self, language: str, at: int) -> float:
        hits = (self.first if at == 1 else self.top3).get(language, 0)
        return hits / max(1, self.asked.get(language, 0))


async def load_bike_shop(engine: AsyncEngine) -> tuple[str, dict[str, str]]:
    """A tenant holding the bike shop's entries; returns its id and the entry id of each fixture key."""
    async with engine.begin() as connection:
        tenant = await create_tenant(connection, name="Spoke & Chain", business_id=f"bikes-{uuid.uuid4().hex[:10]}")
        keys = list(ENTRIES)
        rows = [
            {"title": title, "body": body, "url": url, "language": language, "enabled": True}
            for language, title, body, url in (ENTRIES[key] for key in keys)
        ]
        ids = await store.insert_entries(connection, tenant.id, rows)
    return tenant.id, dict(zip(keys, ids, strict=True))


async def measure(
    engine: AsyncEngine, sets: dict[str, Sequence[Question]] = QUESTION_SETS, rounds: int = 1
) -> dict[str, Quality]:
    """Load the bike shop into ``engine`` (migrated) and ask every question of each set ``rounds`` times."""
    tenant_id, ids = await load_bike_shop(engine)
    broker = broker_from_url(None, prefix="bench", node_id="bench")
    fanout = Fanout(broker, "bench")
    await fanout.connect()
    knowledge = KnowledgeBase(engine, fanout, Keys("bench"), timeout_s=5.0)
    await knowledge.start()
    try:
        return {name: await ask(knowledge, tenant_id, ids, questions, rounds) for name, questions in sets.items()}
    finally:
        await knowledge.stop()
        await broker.disconnect()


async def ask(
    knowledge: KnowledgeBase, tenant_id: str, ids: dict[str, str], questions: Sequence[Question], rounds: int
) -> Quality:
    quality = Quality()
    for language, question, key in questions:
        found: list[str] = []
        for _ in range(rounds):
            started = time.perf_counter_ns()
            passages = await knowledge.search(tenant_id, question, language, limit=3, fresh=True)
            quality.samples_ns.append(time.perf_counter_ns() - started)
            found = [passage.id for passage in passages]
        quality.asked[language] = quality.asked.get(language, 0) + 1
        if found[:1] == [ids[key]]:
            quality.first[language] = quality.first.get(language, 0) + 1
        if ids[key] in found[:3]:
            quality.top3[language] = quality.top3.get(language, 0) + 1
        else:
            titles = {entry_id: key for key, entry_id in ids.items()}
            quality.misses.append(f"{question!r} -> {[titles[i] for i in found]} (wanted {key})")
    return quality


async def measure_sqlite(sets: dict[str, Sequence[Question]] = QUESTION_SETS, rounds: int = 1) -> dict[str, Quality]:
    with tempfile.TemporaryDirectory(prefix="bob-knowledge-") as directory:
        engine = open_engine(f"sqlite+aiosqlite:///{Path(directory) / 'hub.sqlite3'}")
        try:
            await migrate(engine)
            return await measure(engine, sets, rounds)
        finally:
            await engine.dispose()


async def measure_postgres(
    database_url: str, sets: dict[str, Sequence[Question]] = QUESTION_SETS, rounds: int = 1
) -> dict[str, Quality]:
    engine = open_engine(database_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        await migrate(engine)
        return await measure(engine, sets, rounds)
    finally:
        await engine.dispose()


def report(result: ScenarioResult, backend: str, qualities: dict[str, Quality]) -> None:
    """Recall per set and language (a target for the held-out sets only), one latency over every search."""
    for name, quality in qualities.items():
        for language in sorted(quality.asked):
            recall1, recall3 = quality.recall(language, 1), quality.recall(language, 3)
            asked = quality.asked[language]
            result.add(f"{backend} {name} {language} recall@1", "-", f"{recall1:.0%} of {asked}")
            held_out = name in HELD_OUT
            result.add(
                f"{backend} {name} {language} recall@3",
                f">= {RECALL_TARGET:.0%}" if held_out else "-",
                f"{recall3:.0%} of {asked}",
                recall3 >= RECALL_TARGET if held_out else None,
            )
        for miss in quality.misses:
            result.notes.append(f"{backend} {name} miss: {miss}")
    latency = Latency.from_ns(sample for quality in qualities.values() for sample in quality.samples_ns)
    result.add(
        f"{backend} search latency", "-", f"p50 {latency.p50_ms:.2f} / p99 {latency.p99_ms:.2f} ms (n={latency.count})"
    )


async def run(env: BenchEnv, rounds: int = ROUNDS) -> ScenarioResult:
    result = ScenarioResult("knowledge")
    report(result, "sqlite", await measure_sqlite(rounds=rounds))
    report(result, "postgresql", await measure_postgres(env.database_url, rounds=rounds))
    return result
