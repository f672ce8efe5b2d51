"""Scenario "search": how fast Mission Control's conversation search answers a tenant with a long history.

One tenant holds CONVERSATIONS conversations of MESSAGES messages each (visitor and AI, English and Polish,
from a bike shop's usual words) and a note in every tenth; a second tenant holds a tenth as much, so each
lookup has another tenant's entries beside it. They are written on a fresh SQLite file and on this run's
PostgreSQL database as the writer writes them (the message, its search index entry, in one transaction; the
rate is reported). Then each query of QUERIES is searched through ``hub.chat.search.find`` (the page of 20 a
person sees, snippets made) ROUNDS times, after PostgreSQL's table was vacuumed as autovacuum would; reported
per backend: p50 and p99 over all of them (target: p99
under TARGET_MS), and per query its p50 and how many conversations matched on the first page.
"""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.report import Latency, ScenarioResult
from bench.services import BenchEnv
from hub.chat.search import find
from hub.store import search_index
from hub.store.database import migrate, open_engine
from hub.store.tables import chat_sessions, messages, notes
from hub.store.tenants import create_tenant

CONVERSATIONS = 5000
MESSAGES = 10
ROUNDS = 5
QUICK_ROUNDS = 2
TARGET_MS = 250.0
BATCH = 500  # conversations per transaction while loading

# Visitor lines and AI replies, with a slot for a part and one for a problem.
PARTS = [
    "brakes", "chain", "tyre", "wheel", "saddle", "battery", "pedals", "gears", "frame", "light",
    "hamulce", "łańcuch", "opona", "koło", "siodełko", "akumulator", "pedały", "przerzutka", "rama", "lampka",
]  # fmt: skip
PROBLEMS = [
    "squeak", "broke", "came loose", "is worn out", "rattles", "won't charge", "is bent", "slips",
    "piszczy", "pękł", "się poluzował", "jest zużyty", "stuka", "nie ładuje", "jest krzywy", "przeskakuje",
]  # fmt: skip
VISITOR = [
    "Hi, my {part} {problem} after the last ride. Can you fix it?",
    "How much is a new {part}? Mine {problem}.",
    "Do you have a {part} in stock for an e-bike?",
    "I ordered a {part} last week, where is my order?",
    "Can I get a refund for the {part}? It {problem} on day one.",
    "Dzień dobry, {part} {problem}, czy możecie to naprawić?",
    "Ile kosztuje naprawa, jeśli {part} {problem}?",
    "Zamówiłem {part} tydzień temu, gdzie jest moja paczka?",
    "Czy mogę dostać zwrot pieniędzy? {part} {problem}.",
    "Are you open on Saturday? I'd like to bring the bike in.",
]
AI = [
    "Sorry to hear that! A {part} check takes about 30 minutes at the workshop.",
    "A new {part} is in stock; fitting is included in the price.",
    "Your order has shipped; the courier delivers it within two working days.",
    "Refunds go back to your card within five working days.",
    "Przykro nam! Sprawdzenie, czy {part} działa, zajmuje około 30 minut.",
    "Paczka została wysłana, kurier dostarczy ją w ciągu dwóch dni roboczych.",
    "Zwrot pieniędzy trafi na kartę w ciągu pięciu dni roboczych.",
    "We are open Monday to Saturday, 9:00 to 18:00.",
]
NOTE = "Customer called about the {part} again; promised a callback tomorrow."

# What a person types: one common word, a rare one, words spread over a conversation, Polish forms whose stem
# alternates, and words no conversation holds together.
QUERIES = [
    "order",
    "refund",
    "saddle",
    "refund brakes",
    "callback saddle",
    "hamulec",
    "hamulce piszczy",
    "zwrot hamulec",
    "koła",
    "order refund battery",
    "frame squeak refund",
    "helicopter",
]


def conversation(rng: random.Random) -> list[tuple[str, str]]:
    """(role, text) of one conversation: visitor and AI in turn, each line with its own part and problem."""
    lines = []
    for number in range(MESSAGES):
        role, templates = ("visitor", VISITOR) if number % 2 == 0 else ("ai", AI)
        lines.append((role, rng.choice(templates).format(part=rng.choice(PARTS), problem=rng.choice(PROBLEMS))))
    return lines


async def load(engine: AsyncEngine, tenant_id: str, conversations: int, rng: random.Random) -> float:
    """Write ``conversations`` conversations and their index entries; returns items written per second."""
    start = datetime.now(UTC) - timedelta(days=90)
    written, began = 0, time.perf_counter()
    for first in range(0, conversations, BATCH):
        sessions: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        noted: list[dict[str, Any]] = []
        for number in range(first, min(first + BATCH, conversations)):
            session_id = f"s_bench_{number:06d}"
            at = start + timedelta(minutes=25 * number)
            sessions.append(
                {"tenant_id": tenant_id, "id": session_id, "last_seq": MESSAGES, "created_at": at, "updated_at": at}
            )
            for seq, (role, words) in enumerate(conversation(rng), 1):
                rows.append(
                    {
                        "id": str(uuid.uuid4()), "tenant_id": tenant_id, "session_id": session_id, "seq": seq,
                        "role": role, "text": words, "created_at": at + timedelta(seconds=30 * seq),
                    }
                )  # fmt: skip
            if number % 10 == 0:
                noted.append(
                    {
                        "id": str(uuid.uuid4()), "tenant_id": tenant_id, "session_id": session_id,
                        "author_id": str(uuid.uuid4()), "author_name": "Anna", "mentions": [], "after_seq": MESSAGES,
                        "text": NOTE.format(part=rng.choice(PARTS)), "created_at": at + timedelta(hours=1),
                    }
                )  # fmt: skip
        entries = [
            search_index.Entry(row["id"], tenant_id, row["session_id"], kind, row["created_at"], row["text"])
            for kind, table in (("message", rows), ("note", noted))
            for row in table
        ]
        async with engine.begin() as connection:
            await connection.execute(chat_sessions.insert(), sessions)
            await connection.execute(messages.insert(), rows)
            if noted:
                await connection.execute(notes.insert(), noted)
            await search_index.add(connection, entries)
        written += len(entries)
    return written / (time.perf_counter() - began)


async def measure(engine: AsyncEngine, result: ScenarioResult, backend: str, conversations: int, rounds: int) -> None:
    rng = random.Random(20261209)
    async with engine.begin() as connection:
        tenant = await create_tenant(connection, name="Spokes", business_id=f"search-{uuid.uuid4().hex[:10]}")
        other = await create_tenant(connection, name="Other", business_id=f"search-{uuid.uuid4().hex[:10]}")
    rate = await load(engine, tenant.id, conversations, rng)
    await load(engine, other.id, conversations // 10, rng)
    if engine.dialect.name == "postgresql":
        # What autovacuum does to a table this size soon after: statistics, and the GIN indexes' pending entries
        # merged (right after a bulk load the planner scans the table instead: about 20 ms a word, measured).
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE conversation_search"))
    items = conversations * MESSAGES + conversations // 10
    result.add(f"{backend} items written with their index entry", "-", f"{items:,} at {rate:,.0f}/s")
    everything: list[int] = []
    for query in QUERIES:
        samples: list[int] = []
        found: list[Any] = []
        for _ in range(rounds):
            began = time.perf_counter_ns()
            found, _more = await find(engine, tenant.id, query, limit=20, offset=0)
            samples.append(time.perf_counter_ns() - began)
        everything += samples
        latency = Latency.from_ns(samples)
        spread = sum(1 for item in found if item.others)
        result.notes.append(
            f"{backend} {query!r}: p50 {latency.p50_ms:.1f} ms, {len(found)} on the first page "
            f"({spread} through words in several items)"
        )
    latency = Latency.from_ns(everything)
    result.add(
        f"{backend} search, {conversations:,} conversations x {MESSAGES} messages",
        f"p99 < {TARGET_MS:.0f} ms",
        latency.text(),
        latency.p99_ms < TARGET_MS,
    )


async def run(env: BenchEnv, rounds: int = ROUNDS, conversations: int = CONVERSATIONS) -> ScenarioResult:
    result = ScenarioResult("search")
    with tempfile.TemporaryDirectory(prefix="bob-search-") as directory:
        engine = open_engine(f"sqlite+aiosqlite:///{Path(directory) / 'hub.sqlite3'}")
        try:
            await migrate(engine)
            await measure(engine, result, "sqlite", conversations, rounds)
        finally:
            await engine.dispose()
    engine = open_engine(env.database_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        await migrate(engine)
        await measure(engine, result, "postgresql", conversations, rounds)
    finally:
        await engine.dispose()
    return result
