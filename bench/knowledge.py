"""Scenario "knowledge": how well and how fast a tenant's knowledge is found, on SQLite and PostgreSQL.

The bike shop of ``bench.bike_shop`` (English and Polish entries, questions with the entry each should
find) is loaded into a fresh SQLite file and into this run's PostgreSQL database; every question is
asked through ``KnowledgeBase.search`` in the question's language. Reported per backend and language:
recall@1 and recall@3 (target: recall@3 >= 90 %), and the latency of a search that asks the database
(p50, p99; the per-tenant result cache is bypassed).
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


Question = tuple[str, str, str]  # (language, question, key of the entry that answers it)


async def measure(engine: AsyncEngine, questions: Sequence[Question] = QUESTIONS, rounds: int = 1) -> Quality:
    """Load the bike shop into ``engine`` (migrated) and ask every question ``rounds`` times."""
    tenant_id, ids = await load_bike_shop(engine)
    broker = broker_from_url(None, prefix="bench", node_id="bench")
    fanout = Fanout(broker, "bench")
    await fanout.connect()
    knowledge = KnowledgeBase(engine, fanout, Keys("bench"), timeout_s=5.0)
    await knowledge.start()
    quality = Quality()
    try:
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
    finally:
        await knowledge.stop()
        await broker.disconnect()
    return quality


async def measure_sqlite(questions: Sequence[Question] = QUESTIONS, rounds: int = 1) -> Quality:
    with tempfile.TemporaryDirectory(prefix="bob-knowledge-") as directory:
        engine = open_engine(f"sqlite+aiosqlite:///{Path(directory) / 'hub.sqlite3'}")
        try:
            await migrate(engine)
            return await measure(engine, questions, rounds)
        finally:
            await engine.dispose()


async def measure_postgres(database_url: str, questions: Sequence[Question] = QUESTIONS, rounds: int = 1) -> Quality:
    engine = open_engine(database_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        await migrate(engine)
        return await measure(engine, questions, rounds)
    finally:
        await engine.dispose()


def report(result: ScenarioResult, backend: str, quality: Quality) -> None:
    for language in sorted(quality.asked):
        recall1, recall3 = quality.recall(language, 1), quality.recall(language, 3)
        asked = quality.asked[language]
        result.add(f"{backend} {language} recall@1", "-", f"{recall1:.0%} of {asked}")
        result.add(
            f"{backend} {language} recall@3",
            f">= {RECALL_TARGET:.0%}",
            f"{recall3:.0%} of {asked}",
            recall3 >= RECALL_TARGET,
        )
    latency = Latency.from_ns(quality.samples_ns)
    result.add(
        f"{backend} search latency", "-", f"p50 {latency.p50_ms:.2f} / p99 {latency.p99_ms:.2f} ms (n={latency.count})"
    )
    for miss in quality.misses:
        result.notes.append(f"{backend} miss: {miss}")


async def run(env: BenchEnv, rounds: int = ROUNDS) -> ScenarioResult:
    result = ScenarioResult("knowledge")
    report(result, "sqlite", await measure_sqlite(rounds))
    report(result, "postgresql", await measure_postgres(env.database_url, rounds))
    return result
