"""The bike shop's knowledge base (bench.bike_shop): every question finds its entry among the first three
for at least 90 % of the questions of each language, on SQLite and on PostgreSQL (the benchmark's
``knowledge`` scenario reports the same numbers with latencies)."""

from __future__ import annotations

from bench.bike_shop import ENTRIES, QUESTIONS
from bench.knowledge import RECALL_TARGET, Quality, measure_postgres, measure_sqlite


def test_the_fixture_is_big_enough_in_both_languages() -> None:
    assert len(ENTRIES) >= 30 and len(QUESTIONS) >= 40
    for language in ("en", "pl"):
        assert sum(1 for entry in ENTRIES.values() if entry[0] == language) >= 12
        assert sum(1 for question in QUESTIONS if question[0] == language) >= 20


def assert_recall(quality: Quality) -> None:
    for language in ("en", "pl"):
        recall = quality.recall(language, 3)
        assert recall >= RECALL_TARGET, f"{language} recall@3 {recall:.0%}; misses: {quality.misses}"


async def test_visitors_questions_find_their_entry_on_sqlite() -> None:
    assert_recall(await measure_sqlite())


async def test_visitors_questions_find_their_entry_on_postgresql(postgres_url: str) -> None:
    assert_recall(await measure_postgres(postgres_url))
