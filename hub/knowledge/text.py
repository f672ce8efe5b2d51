"""How a question becomes search terms, the same for every backend.

``fold`` (lower case, accents off, ``ł`` to ``l``) matches what the indexes store (migration 0014).
``terms`` drops the words every question has (English and Polish), adds a few words that mean the
same to a shop's visitor (``SYNONYMS``), corrects a word the tenant's knowledge does not hold to the
closest one it does (``Vocabulary``), and cuts each word to a stem that is searched as a prefix, so
"hamulców", "hamulce" and "hamulcami" meet, as do "repairs", "repaired" and "repair".
"""

from __future__ import annotations

import bisect
import difflib
import math
import re
import unicodedata
from dataclasses import dataclass

WORD = re.compile(r"[a-z0-9]+")
_SPECIAL = str.maketrans({"ł": "l", "ß": "s", "đ": "d", "ø": "o", "æ": "a"})
MAX_TERMS = 8  # variants of one word of the question


def fold(text: str) -> str:
    lowered = text.lower()  # on the whole text: a capital sigma lowers to its final form at the end of a word
    if lowered.isascii():
        return lowered
    unknown = set(lowered).difference(_KNOWN)
    if len(_KNOWN) + len(unknown) > MOST_FOLDED:
        return _decompose(lowered)
    for char in unknown:
        _FOLDED[ord(char)] = _decompose(char)
        _KNOWN.add(char)
    return lowered.translate(_FOLDED)


def _decompose(lowered: str) -> str:
    decomposed = unicodedata.normalize("NFKD", lowered.translate(_SPECIAL))
    return "".join(part for part in decomposed if not unicodedata.combining(part))


# Each character's fold, worked out when first met: every stored message is folded (the conversation search's
# index), and decomposing each text anew cost 10 to 20 µs a message (measured; a fourth of that now). Folding
# a character at a time gives what decomposing the whole text gives: the combining marks whose order that
# would change are all dropped.
_FOLDED: dict[int, str] = {code: chr(code) for code in range(128)}
_KNOWN = {chr(code) for code in range(128)}
MOST_FOLDED = 4096  # characters kept: a text of rarer ones is folded without the table


# "e-bike", "e-rower" and "e bike": also one word, as often written
HYPHENATED = re.compile(r"\b([a-z]{1,2})-([a-z]+)|\b(e) ([a-z]{3,})")


def words(text: str) -> list[str]:
    folded = fold(text)
    return WORD.findall(folded) + ["".join(parts) for parts in HYPHENATED.findall(folded)]


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

# A contraction typed without its apostrophe ("whats", "dont", "youre", "cant") is the word it shortens.
CONTRACTED = frozenset(
    """
    what that it there here who where how when let i you we they do does did is are was were have has
    had can could would should must
    """.split()
)
CONTRACTION_ENDINGS = ("nt", "re", "ve", "ll", "s", "m", "t")  # "t" only for "cant"


def is_stopword(word: str) -> bool:
    if word in STOPWORDS:
        return True
    for ending in CONTRACTION_ENDINGS:
        head = word[: -len(ending)]
        if word.endswith(ending) and head in CONTRACTED and (ending != "t" or head == "can"):
            return True
    return False


# Words a shop's visitor uses for the same thing, in either language; folded, matched as stems. Each English
# group also names the word in Polish, which joins it to the Polish group of that word: a visitor writes
# "ebike" in a Polish question, and a Polish shop's entry says "elektryczny". (Not "rower": every Polish
# question holds it, and it would draw every English entry in.)
SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("bike", "bicycle", "cycle"),
    ("ebike", "electric", "pedelec", "elektryczny"),
    ("tire", "tyre", "opona"),
    ("flat", "puncture", "punctured", "przebita"),
    ("fix", "repair", "mend", "naprawa"),
    ("service", "tune", "maintenance", "checkup", "inspection", "przeglad"),
    ("full", "complete", "overhaul", "kompleksowy"),
    ("price", "cost", "costs", "fee", "charge", "rate", "cena"),
    ("guarantee", "warranty", "gwarancja"),
    ("appointment", "booking", "book", "reserve", "reservation", "slot", "schedule", "rezerwacja"),
    ("collect", "pickup", "pick", "delivery", "deliver", "odbior"),
    ("card", "cards", "contactless", "karta"),
    ("rent", "rental", "hire", "borrow", "wypozyczyc"),
    ("used", "secondhand", "preowned", "second", "uzywany"),
    ("battery", "accumulator", "akumulator"),
    ("keep", "storage", "store", "przechowac"),
    ("open", "opening", "close", "closing", "hours", "otwarte"),
    ("shop", "workshop", "location", "address", "warsztat"),
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

# Endings stripped before a word is searched as a prefix: English suffixes and Polish inflection (folded),
# longest first. The Polish verb's forms come first: "we/you do" (-amy, -acie, -ujecie), the verbal noun
# (-anie, -enia) and the infinitive (-ać, -ić, -yć, -eć), so "umawiać" meets "umawiania" and "wymienić"
# meets "wymieniamy".
ENDINGS = (
    "ujecie", "ujemy", "acie", "ecie", "icie", "ycie", "anie", "enie", "ania", "enia", "amy", "emy", "imy",
    "ymy", "ami", "ach", "ego", "emu", "ych", "ymi", "owi", "iem", "ing", "om", "ow", "em", "ie", "ia", "ed",
    "es", "ac", "ic", "yc", "ec", "a", "e", "i", "o", "u", "y", "s",
)  # fmt: skip
MIN_STEM = 3
VOWELS = "aeiouy"
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
SYNONYM_WORDS = frozenset(word for group in SYNONYM_GROUPS for word in group)


PREFIX_FROM = 4  # shorter stems match whole words only: "pro" is not "professional"


def matches(word: str, stem: str) -> bool:
    return word.startswith(stem) if len(stem) >= PREFIX_FROM else word == stem


CLAUSE = re.compile(r"[.!?;\n]+|,?\s+(?:and|also|plus|i|oraz|a także|a takze|albo)\s+|,\s+(?=\w+\s+\w+)", re.IGNORECASE)


def clauses(text: str) -> list[str]:
    """A message's questions one by one: "Hi! Do you repair e-bikes, and how much is a chain?" is two."""
    return [part.strip() for part in CLAUSE.split(text) if part and part.strip()]


@dataclass(frozen=True)
class Concept:
    """One word of the question: its stem and correction, its synonyms' stems (searched as prefixes), and
    its weight: rarer in the tenant's knowledge weighs more (an inverse document frequency)."""

    stems: tuple[str, ...]
    synonyms: tuple[str, ...]
    weight: float

    def share(self, title: set[str], body: set[str]) -> float:
        """1 when the entry holds the word itself, SYNONYM_SHARE when only a synonym, else 0."""
        held = title | body
        if any(matches(word, stem) for stem in self.stems for word in held):
            return 1.0
        return SYNONYM_SHARE if any(matches(word, stem) for stem in self.synonyms for word in held) else 0.0

    def score(self, title: set[str], body: set[str]) -> float:
        """An entry's score for this word, from the words its title and body hold (the backends rank alike):
        the word itself counts fully, a synonym SYNONYM_SHARE of it, and a title hit TITLE_BONUS more."""

        def holds(held: set[str], stems: tuple[str, ...]) -> bool:
            return any(matches(word, stem) for stem in stems for word in held)

        own = holds(title, self.stems) or holds(body, self.stems)
        share = 1.0 if own else SYNONYM_SHARE if holds(title, self.synonyms) or holds(body, self.synonyms) else 0.0
        in_title = holds(title, self.stems + self.synonyms)
        return self.weight * (share + (TITLE_BONUS if in_title else 0.0))


SYNONYM_SHARE = 0.6
TITLE_BONUS = 0.5


@dataclass(frozen=True)
class Terms:
    """A question as search terms: ``stems`` are searched as prefixes, ``words`` as whole (English) words,
    ``concepts`` group the stems by the question's word they came from."""

    stems: tuple[str, ...]
    words: tuple[str, ...]
    concepts: tuple[Concept, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.stems)

    def relevance(self, title: str, body: str) -> float:
        """The share of the question's weight an entry holds (0 to 1): how much of the question it is about."""
        total = sum(concept.weight for concept in self.concepts)
        if not total:
            return 0.0
        held_title, held_body = set(words(title)), set(words(body))
        return sum(concept.weight * concept.share(held_title, held_body) for concept in self.concepts) / total


class Vocabulary:
    """The words of a tenant's enabled entries: for correcting a visitor's typo to one of them, and for how
    many entries hold a stem."""

    def __init__(self, texts: list[str]) -> None:
        self.entries = len(texts)
        holders: dict[str, set[int]] = {}
        for index, text in enumerate(texts):
            for word in words(text):
                if len(word) >= 2:
                    holders.setdefault(word, set()).add(index)
        self._holders = holders
        self._sorted = sorted(holders)
        self.words = frozenset(word for word in holders if len(word) >= 3)
        # A typo is corrected to a word of the knowledge or of the synonym groups: "adress" is "address",
        # which the knowledge may not hold but whose synonyms it does.
        self._by_initial: dict[str, list[str]] = {}
        for known in sorted(self.words | SYNONYM_WORDS):
            self._by_initial.setdefault(known[0], []).append(known)

    def _starting(self, prefix: str) -> list[str]:
        first = bisect.bisect_left(self._sorted, prefix)
        last = bisect.bisect_left(self._sorted, prefix + "\uffff")
        return self._sorted[first:last]

    def known(self, word: str) -> bool:
        return word in self._holders or bool(self._starting(stem(word)))

    def corrections(self, word: str) -> tuple[str, ...]:
        """The words of the knowledge (or of the synonym groups) ``word`` stands for when it is not one."""
        if len(word) < 4 or word in SYNONYM_WORDS or self.known(word):
            return ()
        if word[-1] in VOWELS:
            # A short word is too short to lose its ending as a stem (MIN_STEM), but in Polish the ending is
            # what changes: "kole" is "koło" and "koła", "gumę" is "guma".
            others = tuple(other for vowel in VOWELS if (other := word[:-1] + vowel) in self._holders)
            if others:
                return others
        # Candidates share the first letter and are within two letters of the length: a typo rarely changes
        # those, and difflib over the whole vocabulary would cost milliseconds per word.
        candidates = [known for known in self._by_initial.get(word[0], ()) if abs(len(known) - len(word)) <= 2]
        return tuple(difflib.get_close_matches(word, candidates, n=1, cutoff=0.8))

    def weight(self, stems: tuple[str, ...]) -> float:
        holding: set[int] = set()
        for prefix in stems:
            for word in self._starting(prefix) if len(prefix) >= PREFIX_FROM else [prefix] * (prefix in self._holders):
                holding |= self._holders[word]
        return math.log(1 + self.entries / (1 + len(holding)))


MAX_CONCEPTS = 8


def terms(question: str, vocabulary: Vocabulary | None = None) -> Terms:
    chosen: list[str] = []
    concepts: list[Concept] = []
    for word in words(question):
        if is_stopword(word) or len(word) < 2 or word.isdigit() or len(concepts) >= MAX_CONCEPTS:
            continue
        corrected = vocabulary.corrections(word) if vocabulary is not None else ()
        synonyms = SYNONYMS.get(stem(word), NONE).union(*(SYNONYMS.get(stem(other), NONE) for other in corrected))
        variants = [
            variant for variant in dict.fromkeys((word, *corrected, *sorted(synonyms))) if variant not in chosen
        ][:MAX_TERMS]
        if not variants:
            continue
        chosen.extend(variants)
        stems = tuple(dict.fromkeys(stem(variant) for variant in variants))
        own = tuple(dict.fromkeys(stem(variant) for variant in (word, *corrected)))
        weight = vocabulary.weight(stems) if vocabulary is not None else 1.0
        concepts.append(Concept(own, tuple(found for found in stems if found not in own), weight))
    stems = tuple(dict.fromkeys(stem for concept in concepts for stem in concept.stems + concept.synonyms))
    return Terms(stems=stems, words=tuple(chosen), concepts=tuple(concepts))


KNOWN = 0.5  # a passage holding at least this share of the question answers it (Terms.relevance)
# Asking for a person is not a question the knowledge should answer: left out of a question's grouping.
PERSON_WORDS = frozenset(
    {
        "human", "person", "agent", "someone", "people", "operator", "representative", "staff", "talk", "speak",
        "czlowiek", "czlowiekiem", "konsultant", "konsultantem", "konsultanta", "osoba", "osoby", "osobe",
        "pracownik", "pracownikiem", "pracownika", "rozmawiac", "porozmawiac", "pogadac",
    }
)  # fmt: skip
PERSON_STEMS = frozenset(stem(word) for word in PERSON_WORDS)


def grouping(question: str) -> str:
    """Similar wordings of one question share this: its words' stems, sorted ("" for small talk)."""
    stems = {
        stem(word)
        for word in words(question)
        if not is_stopword(word) and len(word) > 1 and not word.isdigit() and stem(word) not in PERSON_STEMS
    }
    return " ".join(sorted(stems))[:200]
