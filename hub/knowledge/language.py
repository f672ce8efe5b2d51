"""Which language a visitor writes in (English or Polish), from their words and the widget's language.

Words both languages write alike ("a", "i", "to", "do") count for neither."""

from __future__ import annotations

import re

from hub.knowledge.text import fold

POLISH_LETTERS = re.compile(r"[ąćęłńóśźż]", re.IGNORECASE)
POLISH_WORDS = frozenset(
    """
    czy jak ile gdzie kiedy jest sa nie tak dzien dobry czesc witam prosze dziekuje dzieki moge mozna
    chce chcialbym chcialabym potrzebuje macie jestescie mam mi mnie sie na od za przy ze co w z
    naprawa naprawic rower rowery koszt kosztuje cena zamowienie pomoc pomocy czlowiek konsultant
    """.split()
)
ENGLISH_WORDS = frozenset(
    """
    the an is are does can could would how what when where why who you your my me we our of for
    in on with and or hello hi hey thanks please help need want much cost price order person human
    """.split()
)


def detect_language(texts: list[str], fallback: str = "en") -> str:
    """``texts``: the visitor's messages, newest last (the newest counts most); ``fallback``: the widget's
    language (``en``, ``pl``, or anything else for "not set"), used when the words do not tell."""
    score = 0.0
    for age, text in enumerate(reversed(texts[-3:])):
        weight = 1.0 / (1 + age)
        if POLISH_LETTERS.search(text):
            score += 2 * weight
        words = re.findall(r"[a-z]+", fold(text))
        score += weight * (sum(word in POLISH_WORDS for word in words) - sum(word in ENGLISH_WORDS for word in words))
    if score > 0:
        return "pl"
    if score < 0:
        return "en"
    return fallback if fallback in ("en", "pl") else "en"
