"""How a question becomes search terms, the same for every backend.

``fold`` (lower case, accents off, ``ł`` to ``l``) matches what the indexes store (migration 0014).
``terms`` drops the words every question has (English and Polish), adds a few words that mean the
same to a shop's visitor (``SYNONYMS``), corrects a word the tenant's knowledge does not hold to the
closest one it does (``Vocabulary``), and cuts each word to a stem that is searched as a prefix, so
"hamulców", "hamulce" and "hamulcami" meet, as do "repairs", "repaired" and "repair".
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

WORD = re.compile(r"[a-z0-9]+")
_SPECIAL = str.maketrans({"ł": "l", "ß": "s", "đ": "d", "ø": "o", "æ": "a"})
MAX_TERMS = 16


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower().translate(_SPECIAL))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


HYPHENATED = re.compile(r"\b([a-z]{1,2})-([a-z]+)")  # "e-bike", "e-rower": also one word, as often written


def words(text: str) -> list[str]:
    folded = fold(text)
    return WORD.findall(folded) + [first + rest for first, rest in HYPHENATED.findall(folded)]


STOPWORDS = frozenset(
    """
    a an the and or but if is are was were be been am do does did done you your yours i me my mine we our us
    it its this that these those there here to of for in on at by with from as about into can could would
    should will shall may might must have has had how what which who whom whose when where why hi hello hey
    please thanks thank much many any some get got need want like just also too very so not no yes ok okay
    one per than then them they he she his her him
    a i w we z ze na do od po za o u dla przy pod nad przez bez czy jak jaki jaka jakie co to ten ta te tym
    jest sa byc sie mi mnie moj moja moje mam ma macie mozna moge mozecie jestescie wasz wasza wasze wam was
    nam nas my wy ile kiedy gdzie ktorej ktory ktora czesc dzien dobry witam prosze dziekuje hej tak nie juz
    bo ze ale lub albo oraz tez jeszcze sobie swoj
    """.split()
)

# Words a shop's visitor uses for the same thing, in either language; folded, matched as stems.
SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("bike", "bicycle", "cycle"),
    ("ebike", "electric", "pedelec"),
    ("tire", "tyre"),
    ("flat", "puncture", "punctured"),
    ("fix", "repair", "mend"),
    ("service", "tune", "maintenance", "checkup", "inspection"),
    ("full", "complete", "overhaul"),
    ("price", "cost", "costs", "fee", "charge", "rate"),
    ("guarantee", "warranty"),
    ("appointment", "booking", "book", "reserve", "reservation", "slot", "schedule"),
    ("collect", "pickup", "pick", "delivery", "deliver"),
    ("card", "cards", "contactless"),
    ("rent", "rental", "hire", "borrow"),
    ("used", "secondhand", "preowned", "second"),
    ("battery", "accumulator"),
    ("keep", "storage", "store"),
    ("open", "opening", "close", "closing", "hours"),
    ("shop", "workshop", "store", "location", "address"),
    ("parking", "park"),
    ("akumulator", "bateria", "baterii"),
    ("detka", "guma", "gume", "kapec", "przebita", "przebicie"),
    ("naprawa", "naprawic", "serwis", "reperacja"),
    ("cena", "koszt", "kosztuje", "cennik", "oplata"),
    ("wypozyczyc", "wynajac", "wypozyczalnia", "wynajem"),
    ("umowic", "rezerwacja", "zarezerwowac", "termin", "wizyta"),
    ("karta", "karte", "platnosc", "zaplacic"),
    ("otwarte", "otwieracie", "otwarci", "czynne", "czynni", "godziny", "zamykacie"),
    ("warsztat", "serwis", "adres"),
    ("parking", "zaparkowac", "parkowac"),
    ("uzywane", "uzywany", "skup", "skupujecie", "kupujecie"),
    ("przechowac", "przechowywanie", "przechowujecie"),
    ("przeglad", "serwis"),
)

# Endings stripped before a word is searched as a prefix: English suffixes and Polish inflection (folded).
ENDINGS = (
    "ami", "ach", "ego", "emu", "ych", "ymi", "owi", "iem", "ing", "om", "ow", "em", "ie", "ia", "ed", "es",
    "a", "e", "i", "o", "u", "y", "s",
)  # fmt: skip
MIN_STEM = 3
LONG_STEM = 7  # longer stems lose two more letters: Polish alternates them ("wypożyczyć", "wypożyczalnia")


def stem(word: str) -> str:
    for ending in ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM + 1:
            word = word[: -len(ending)]
            if ending in ("ing", "ed") and len(word) > 3 and word[-1] == word[-2]:
                word = word[:-1]  # skipping -> skip
            break
    if len(word) > LONG_STEM:
        word = word[:-2]
    return word


NONE: frozenset[str] = frozenset()
SYNONYMS: dict[str, frozenset[str]] = {}  # by stem: "ebikes" finds the group of "ebike"
for _group in SYNONYM_GROUPS:
    for _word in _group:
        SYNONYMS[stem(_word)] = SYNONYMS.get(stem(_word), NONE) | frozenset(_group)


@dataclass(frozen=True)
class Terms:
    """A question as search terms: ``stems`` are searched as prefixes, ``words`` as whole (English) words."""

    stems: tuple[str, ...]
    words: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.stems)


class Vocabulary:
    """The words of a tenant's enabled entries, for correcting a visitor's typo to one of them."""

    def __init__(self, texts: list[str]) -> None:
        self.words = frozenset(word for text in texts for word in words(text) if len(word) >= 3)
        self._by_length = sorted(self.words)

    def known(self, word: str) -> bool:
        if word in self.words:
            return True
        prefix = stem(word)
        return any(candidate.startswith(prefix) for candidate in self._by_length)

    def correct(self, word: str) -> str | None:
        if len(word) < 4 or self.known(word):
            return None
        found = difflib.get_close_matches(word, self._by_length, n=1, cutoff=0.8)
        return found[0] if found else None


def terms(question: str, vocabulary: Vocabulary | None = None) -> Terms:
    chosen: list[str] = []
    for word in words(question):
        if word in STOPWORDS or len(word) < 2 or word.isdigit():
            continue
        corrected = vocabulary.correct(word) if vocabulary is not None else None
        for variant in (
            word,
            corrected,
            *sorted(SYNONYMS.get(stem(word), NONE) | SYNONYMS.get(stem(corrected or ""), NONE)),
        ):
            if variant and variant not in chosen:
                chosen.append(variant)
    chosen = chosen[:MAX_TERMS]
    stems = tuple(dict.fromkeys(stem(word) for word in chosen))
    return Terms(stems=stems, words=tuple(chosen))
