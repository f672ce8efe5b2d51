"""The bike shop's knowledge base (bench.bike_shop): visitors' questions find their entry among the first three
for at least 90 % of the questions of each language, on SQLite and on PostgreSQL (the benchmark's
``knowledge`` scenario reports the same numbers with latencies).

The target holds on the held-out sets of bench.held_out, written without looking at the search's word lists
and committed before they were first measured (their history is in docs/PERFORMANCE.md). The fixture's own
questions, which the synonym groups were written against, are held to the same target as a regression guard
only: their recall says little about a question nobody tuned for.
"""

from __future__ import annotations

import pytest

from bench.bike_shop import ENTRIES, QUESTIONS
from bench.knowledge import HELD_OUT, RECALL_TARGET, Quality, measure_postgres, measure_sqlite


def test_the_fixture_is_big_enough_in_both_languages() -> None:
    assert len(ENTRIES) >= 30 and len(QUESTIONS) >= 40
    for language in ("en", "pl"):
        assert sum(1 for entry in ENTRIES.values() if entry[0] == language) >= 12
        assert sum(1 for question in QUESTIONS if question[0] == language) >= 20


@pytest.mark.parametrize("name", list(HELD_OUT))
def test_each_held_out_set_has_forty_questions_a_language_none_in_another_held_out_set(name: str) -> None:
    questions = HELD_OUT[name]
    for language in ("en", "pl"):
        assert sum(1 for question in questions if question[0] == language) >= 40
    assert all(key in ENTRIES and ENTRIES[key][0] == language for language, _, key in questions)
    elsewhere = {text.lower() for other, asked in HELD_OUT.items() if other != name for _, text, _ in asked}
    assert not [text for _, text, _ in questions if text.lower() in elsewhere]


def assert_recall(qualities: dict[str, Quality]) -> None:
    failures = [
        f"{name} {language} recall@3 {quality.recall(language, 3):.0%}; misses: {quality.misses}"
        for name, quality in qualities.items()
        for language in ("en", "pl")
        if quality.recall(language, 3) < RECALL_TARGET
    ]
    assert not failures, failures


async def test_visitors_questions_find_their_entry_on_sqlite() -> None:
    assert_recall(await measure_sqlite())


async def test_visitors_questions_find_their_entry_on_postgresql(postgres_url: str) -> None:
    assert_recall(await measure_postgres(postgres_url))
