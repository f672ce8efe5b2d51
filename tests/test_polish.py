"""Polish keys (``hub.knowledge.polish``): the forms of a noun or an adjective meet in one key, whatever their
stem's sounds alternate to, typed with accents or without; different words keep different keys."""

from __future__ import annotations

import pytest

from hub.knowledge.polish import key, keyed_words, nasal_keys
from hub.knowledge.text import fold

FORMS = [
    "hamulec hamulce hamulca hamulców hamulcami hamulcem",  # fleeting e
    "pies psa psem psy psów psami psu psie",  # fleeting e
    "kościół kościele kościoła kościołem kościołów",  # ó/o/e and ł/l
    "ręka ręce ręki rękę ręką rękach rękami",  # k/c
    "noga nodze nogi nogą",  # g/dz
    "mucha musze muchy",  # ch/sz
    "rower rowerze rowery rowerów rowerem",  # r/rz
    "produkt produkcie produktu produkty",  # t/ci
    "samochód samochodzie samochodu",  # d/dzi
    "miasto mieście miasta",  # a/e and st/ści
    "okno oknie okna okien",  # fleeting e in the plural
    "przesyłka przesyłce przesyłki przesyłek przesyłką",
    "paczka paczce paczki paczek",
    "płatność płatności płatnością",
    "zamówienie zamówienia zamówieniu zamówień zamówieniem",
    "sen snu snem",
    "polski polska polskie polskiego polskim",
    "dzień dnia dniu dni dniach",  # irregular stems
    "tydzień tygodnia tygodniu tygodnie tygodni",
    "człowiek człowieka ludzie ludzi ludźmi",
    "dziecko dziecka dzieci dziećmi dzieciom",
]


@pytest.mark.parametrize("forms", FORMS, ids=[forms.split()[0] for forms in FORMS])
def test_the_forms_of_a_word_share_one_key(forms: str) -> None:
    keys = {form: key(fold(form)) for form in forms.split()}
    assert len(set(keys.values())) == 1, keys


def test_a_word_typed_without_accents_has_the_same_key() -> None:
    for accented, plain in [("kościół", "kosciol"), ("ręce", "rece"), ("hamulców", "hamulcow"), ("psów", "psow")]:
        assert key(fold(accented)) == key(plain)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("pies", "pas"),
        ("ręka", "rok"),
        ("hamulec", "hamak"),
        ("kościół", "kosz"),
        ("sen", "syn"),
        ("noga", "noc"),
        ("dzień", "dom"),
        ("tydzień", "tyczka"),
        ("dzieci", "dziadek"),
        ("człowiek", "ludwisarz"),
    ],
)
def test_different_words_keep_different_keys(one: str, other: str) -> None:
    assert key(fold(one)) != key(fold(other))


@pytest.mark.parametrize(
    ("with_a", "with_e"),
    [("rąk", "ręka"), ("mąż", "męża"), ("ząb", "zęby"), ("dąb", "dębu"), ("gałąź", "gałęzi"), ("ksiąg", "księga")],
)
def test_a_word_written_with_a_nasal_a_also_has_the_key_of_its_forms_with_e(with_a: str, with_e: str) -> None:
    """ą and ę alternate in a stem: the ą form has its own key (for "rak" typed without accents) and that of
    its ę form; a word without ą has no second key."""
    assert nasal_keys(with_a) == [key(fold(with_e))]
    assert [keyed for _, keyed in keyed_words(f"Nie mam {with_a.upper()}")] == [
        "nie",
        "mam",
        fold(with_a.replace("ą", "ę")),
    ]
    assert nasal_keys(with_e) == [] and nasal_keys("reka rak") == []


def test_numbers_and_short_words_are_their_own_keys() -> None:
    assert [key(word) for word in ("58213", "a4", "ok", "e")] == ["58213", "a4", "ok", "e"]
