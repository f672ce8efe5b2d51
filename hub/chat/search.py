"""Staff search over a tenant's conversations: what they typed becomes terms, the store finds the conversations
(``hub.store.search``), and each gets snippets of the items that matched, with the matching words marked.

Words are folded and stemmed as the knowledge search does (``hub.knowledge.text``: accents off, Polish and
English endings cut, a stem matched as a word prefix), so "hamulców" finds "hamulce" and "refunds" finds
"refunded"; a word also matches the forms whose stem alternates (``hub.knowledge.polish``: "pies" finds "psa",
"ręka" finds "ręce" and "rąk", "tydzień" "tygodnia"). Every word must match, in any of a conversation's messages
and notes; the words every sentence has ("the", "czy") are left out unless the query holds nothing else.
Snippets are cut and marked here, the same on both backends.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.errors import InvalidInput, Unavailable
from hub.knowledge.polish import key, keyed_words
from hub.knowledge.text import PREFIX_FROM, STOPWORDS, matches, stem
from hub.store.search import Hit, Item, Term, search_conversations

MAX_QUERY_CHARS = 200
MAX_TERMS = 8
SNIPPET_CHARS = 160
SNIPPET_LEAD = 50  # characters kept before the first match
TIMEOUT_S = 5.0
_TOKEN = re.compile(r"\w+")


def search_terms(query: str) -> list[Term]:
    """The query's words as terms (a stem matched as a prefix, and a Polish key matched whole), eight at most;
    InvalidInput when it holds no word to search for."""
    words = [(word, keyed) for word, keyed in keyed_words(query) if len(word) >= 2 or word.isdigit()]
    meaningful = [(word, keyed) for word, keyed in words if word not in STOPWORDS]
    chosen: dict[str, str] = {}  # stem: key (the first word's, when two words share a stem)
    for word, keyed in meaningful or words:
        chosen.setdefault(stem(word), key(keyed))
    if not chosen:
        raise InvalidInput("'q' holds no word to search for (letters or digits)")
    return [Term(found, len(found) >= PREFIX_FROM, its_key) for found, its_key in list(chosen.items())[:MAX_TERMS]]


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
    marks = [(token.start(), token.end()) for token in _TOKEN.finditer(flat) if _holds(token.group(), terms)]
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


def _holds(token: str, terms: list[Term]) -> bool:
    """Whether a word of the text matches a term, as the index matched it: by its stem, or by its key."""
    return any(
        matches(word, term.stem) or key(word) == term.key or key(keyed) == term.key
        for word, keyed in keyed_words(token)
        for term in terms
    )


@dataclass(frozen=True)
class Shown:
    item: Item
    snippet: Snippet


@dataclass(frozen=True)
class Found:
    hit: Hit
    best: Shown
    others: list[Shown]  # the items holding the words ``best`` lacks


async def find(engine: AsyncEngine, tenant_id: str, query: str, *, limit: int, offset: int) -> tuple[list[Found], bool]:
    """A page of matching conversations, and whether more follow it."""
    terms = search_terms(query)
    try:
        async with asyncio.timeout(TIMEOUT_S):
            hits = await search_conversations(engine, tenant_id, terms, limit=limit + 1, offset=offset)
    except TimeoutError:
        raise Unavailable(f"the search took longer than {TIMEOUT_S:g} s; add words to narrow it") from None
    found = [
        Found(hit, _shown(hit.best, terms), [_shown(other, terms) for other in hit.others]) for hit in hits[:limit]
    ]
    return found, len(hits) > limit


def _shown(item: Item, terms: list[Term]) -> Shown:
    return Shown(item, snippet(item.text, terms))
