"""One key for the forms of a Polish noun or adjective, whatever its stem's sounds alternate to.

Cutting endings (``hub.knowledge.text.stem``) and matching the rest as a prefix meets most forms of a word,
but not those whose stem itself changes: "hamulec" has no prefix in common with "hamulce" past "hamul", "pies"
none with "psa", "ręka" is "ręce" and "kościół" "kościele". ``key`` undoes the common alternations, the same
way for every form, so they meet as one whole word:

1. fold (``hub.knowledge.text.fold``: "ó" is "o", "ł" is "l"), and cut one case ending (``ENDINGS``);
2. a softened consonant at the end of the stem goes back to its hard one (``SOFTENED``): "ręc(e)" → "rek",
   "nodz(e)" → "nog", "kroci(e)" → "krot"; the "i" that marks a soft consonant goes ("okni(e)" → "okn");
3. "io" and "ia" in the last syllable become "ie" (o and a alternate with e after a soft consonant:
   "kościoł(a)" / "kościel(e)", "miast(o)" / "mieści(e)");
4. an "e" between the last two consonants goes (the fleeting e: "hamulec" / "hamulc(a)", "pies" / "ps(a)",
   "okien" / "okn(o)", "matek" / "matk(a)").

So "hamulec", "hamulce" and "hamulcami" are all "hamulk"; "pies", "psa" and "psem" "ps"; "kościół" and
"kościele" "koscl"; "ręka" and "ręce" "rk". A key is not a word: it is only ever compared whole with another
key. It is made the same for English words (the indexes do not know a message's language): "brakes" has a key
too, which only other forms of "brakes" share.

ą and ę alternate too ("ręka" / "rąk", "mąż" / "męża", "ząb" / "zęby"), but folding makes them a and e, and
"reka" typed without accents must still find "ręka". So a word written with ą also has the key of its ę
form (``nasal_keys``), and a searched word written with ą is looked up by that key (``keyed_words``): "rąk"
finds "ręce" and "ręce" finds "rąk".

A few common words change their stem beyond any rule ("dzień" / "dnia", "tydzień" / "tygodnia", "człowiek" /
"ludzie", "dziecko" / "dzieci"): ``IRREGULAR`` gives the key of one set of forms that of the other.

A dictionary would know every form (a lemmatiser holds Polish's few million of them): the ones on PyPI load
for 9 to 20 seconds into 170 to 420 MB of every node's memory (measured), and the small ones get these
alternations wrong; these rules are a few microseconds a word and meet their forms in ``tests/test_polish.py``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from hub.knowledge.text import WORD, fold

# Case endings of nouns and adjectives (folded: "ą" is "a", "ę" is "e", "ów" is "ow"), longest first.
ENDINGS = (
    "owie", "ami", "ach", "ego", "emu", "ych", "ymi", "imi", "ich", "owi", "om", "ow", "em", "ym", "im", "ej",
    "a", "e", "i", "o", "u", "y",
)  # fmt: skip
MIN_STEM = 2  # "ps(a)", "rk" from "ręk(a)": a key is matched whole, so a short one is still one word
# A softened consonant at the end of a stem, and the hard one it alternates with, longest first: "ści" and a
# final "ść" are "st" ("miasto", "mieście"; "płatność", "płatności"), "dzi" a softened d ("woda", "wodzie"), "ci"
# a softened t ("produkt", "produkcie"), "rz" r ("rower", "rowerze"), "sz" ch ("mucha", "musze"), "dz" g
# ("noga", "nodze"), "c" k ("ręka", "ręce"). Before the others, an "i" only marks the consonant soft
# ("okni(e)", "polski(ego)", "wsi").
SOFTENED = (
    ("zdzi", "zd"), ("sci", "st"), ("sc", "st"), ("dzi", "d"), ("ci", "t"), ("bi", "b"), ("fi", "f"), ("gi", "g"),
    ("ki", "k"), ("li", "l"), ("mi", "m"), ("ni", "n"), ("pi", "p"), ("si", "s"), ("wi", "w"), ("zi", "z"),
    ("rz", "r"), ("sz", "ch"), ("dz", "g"), ("c", "k"),
)  # fmt: skip
# The fleeting e ("hamulek" → "hamulk", "pies" → "ps"), and o, which alternates with it after a soft consonant
# ("kosciol" → "koscl", as "kosciel"), between the last consonant and the one before.
_FLEETING = re.compile(r"(?<=[^aeiouy])(?:i?e|io)(?=(?:ch|cz|[^aeiouy])$)")
_LAST_SYLLABLE = re.compile(r"ia(?=[^aeiouy]+$)")  # a alternates with e after a soft one: "miast" → "miest"


# The key the rules give a set of forms, and the key of the forms of the same word they are to meet.
IRREGULAR = {
    "dzn": "dn",  # dzień: dnia, dni
    "tydzn": "tygodn",  # tydzień: tygodnia, tygodnie
    "czlowk": "lud",  # człowiek, człowieka: ludzie, ludzi
    "ludzm": "lud",  # ludźmi
    "dzt": "dzieck",  # dzieci, dzieciom: dziecko, dziecka
    "dziecm": "dzieck",  # dziećmi
}


@lru_cache(maxsize=65536)
def key(word: str) -> str:
    """The key of a folded word (``[a-z0-9]+``): equal for the forms of one noun or adjective."""
    if len(word) <= MIN_STEM or not word.isalpha():
        return word
    for ending in ENDINGS:
        if ending == "i" and word.endswith(("ci", "dzi")):
            break  # the i marks a softened t or d: "skauci", "braci" (SOFTENED)
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
            word = word[: -len(ending)]
            break
    for soft, hard in SOFTENED:
        if word.endswith(soft) and len(word) > len(soft):
            word = word[: -len(soft)] + hard
            break
    made = _LAST_SYLLABLE.sub("ie", _FLEETING.sub("", word))
    return IRREGULAR.get(made, made)


_NASAL = re.compile("[ąĄ]")
_TOKEN = re.compile(r"\w+")


def keyed_words(text: str) -> list[tuple[str, str]]:
    """The folded words of ``text``, each with the word its key is made of: itself, or for a word written with ą
    its ę form ("rąk" is "rak" keyed as "rek")."""
    plain = WORD.findall(fold(text))
    if "ą" not in text and "Ą" not in text:
        return list(zip(plain, plain, strict=True))
    # ą and ę are both one letter, folded to one: the two lists hold the same words, one for one.
    return list(zip(plain, WORD.findall(fold(_NASAL.sub("ę", text))), strict=True))


def nasal_keys(text: str) -> list[str]:
    """The keys of the words of ``text`` written with ą, made of their ę forms: the keys they share with the
    forms whose ą is ę ("rąk" with "ręka"). None for a text without ą. Only the words holding the letter are
    folded again: every stored message passes here."""
    if "ą" not in text and "Ą" not in text:
        return []
    return [
        key(nasal)
        for token in _TOKEN.findall(text)
        if "ą" in token or "Ą" in token
        for nasal in WORD.findall(fold(_NASAL.sub("ę", token)))
        if len(nasal) > MIN_STEM
    ]
