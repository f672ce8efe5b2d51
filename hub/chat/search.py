"""Staff search over a tenant's conversations: what they typed becomes terms, the store finds the conversations
(``hub.store.search``), and each gets a snippet of its newest match with the matching words marked.

Words are folded and stemmed as the knowledge search does (``hub.knowledge.text``: accents off, Polish and
English endings cut, a stem matched as a word prefix), so "hamulców" finds "hamulce" and "refunds" finds
"refunded". Every word must match; the words every sentence has ("the", "czy") are left out unless the
query holds nothing else. Snippets are cut and marked here, the same on both backends.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.errors import InvalidInput, Unavailable
from hub.knowledge.text import PREFIX_FROM, STOPWORDS, WORD, fold, matches, stem
from hub.store.search import Hit, Term, search_conversations

MAX_QUERY_CHARS = 200
MAX_TERMS = 8
SNIPPET_CHARS = 160
SNIPPET_LEAD = 50  # characters kept before the first match
TIMEOUT_S = 5.0
_TOKEN = re.compile(r"\w+")


def search_terms(query: str) -> list[Term]:
    """The query as terms (stem, matched as a prefix); InvalidInput when it holds no word to search for."""
    words = [word for word in WORD.findall(fold(query)) if len(word) >= 2 or word.isdigit()]
    meaningful = [word for word in words if word not in STOPWORDS]
    stems = dict.fromkeys(stem(word) for word in meaningful or words)
    if not stems:
        raise InvalidInput("'q' holds no word to search for (letters or digits)")
    return [(found, len(found) >= PREFIX_FROM) for found in list(stems)[:MAX_TERMS]]


@dataclass(frozen=True)
class Snippet:
    text: str
    marks: list[tuple[int, int]]  # [start, end) of each matching word in ``text``

    def parts(self) -> list[tuple[str, bool]]:
        """The text in pieces, each matching word a piece marked True."""
        pieces: list[tuple[str, bool]] = []
        at = 0
        for start, end in self.marks:
            if start > at:
                pieces.append((self.text[at:start], False))
            pieces.append((self.text[start:end], True))
            at = end
        if at < len(self.text):
            pieces.append((self.text[at:], False))
        return pieces


def snippet(text: str, terms: list[Term]) -> Snippet:
    """About SNIPPET_CHARS of ``text`` around its first matching word, with every matching word in it marked."""
    flat = re.sub(r"\s", " ", text)  # one character for one: the offsets stay valid
    stems = [found for found, _ in terms]
    marks = [
        (token.start(), token.end())
        for token in _TOKEN.finditer(flat)
        if any(matches(fold(token.group()), found) for found in stems)
    ]
    if len(flat) <= SNIPPET_CHARS:
        return Snippet(flat, marks)
    start = 0
    if marks and marks[0][0] > SNIPPET_LEAD:
        start = marks[0][0] - SNIPPET_LEAD
        space = flat.find(" ", start, marks[0][0])
        start = space + 1 if space >= 0 else start
    end = min(len(flat), start + SNIPPET_CHARS)
    if end < len(flat):
        space = flat.rfind(" ", start + SNIPPET_CHARS // 2, end)
        end = space if space > 0 else end
    lead = "…" if start else ""
    cut = lead + flat[start:end].strip() + ("…" if end < len(flat) else "")
    shift = len(lead) - start - (len(flat[start:end]) - len(flat[start:end].lstrip()))
    inside = [(a + shift, b + shift) for a, b in marks if a >= start and b <= end]
    return Snippet(cut, inside)


@dataclass(frozen=True)
class Found:
    hit: Hit
    snippet: Snippet


async def find(engine: AsyncEngine, tenant_id: str, query: str, *, limit: int, offset: int) -> tuple[list[Found], bool]:
    """A page of matching conversations, and whether more follow it."""
    terms = search_terms(query)
    try:
        async with asyncio.timeout(TIMEOUT_S):
            hits = await search_conversations(engine, tenant_id, terms, limit=limit + 1, offset=offset)
    except TimeoutError:
        raise Unavailable(f"the search took longer than {TIMEOUT_S:g} s; add words to narrow it") from None
    return [Found(hit, snippet(hit.text, terms)) for hit in hits[:limit]], len(hits) > limit
