"""The message catalogs and the choice of a language.

Every string a person reads in the widget, Mission Control, the Customer Portal and ``/docs`` is a
gettext message: its English text is the msgid, and ``hub/locale/<lang>/LC_MESSAGES/messages.po``
holds it for each language. The ``.po`` files are read and compiled in memory by Babel at first use,
so a checkout and an installed wheel work alike with no build step.
"""

from __future__ import annotations

import io
import math
from functools import cache
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.messages.extract import extract
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = ("en", "pl")
DEFAULT_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"


@cache
def translations(language: str) -> Translations:
    """A language's catalog, compiled; fuzzy entries are left out, as ``msgfmt`` leaves them out."""
    with catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return Translations(mo)


@cache
def autonym(language: str) -> str:
    """A language's name in itself ("English", "Polski"), from Babel's CLDR data: no string to translate."""
    name = Locale.parse(language).display_name or language
    return name[:1].upper() + name[1:]


def supported(tag: str | None) -> str | None:
    """The catalog language a language tag asks for (``pl-PL`` -> ``pl``), or None."""
    if not tag:
        return None
    found: str | None = negotiate_locale([tag.strip().lower()], LANGUAGES, sep="-")
    return found


def negotiate(accept_language: str) -> str:
    """The best catalog language for an ``Accept-Language`` header, English when none fits.

    Tags are ranked by their quality value (RFC 9110 12.4.2; equal ones keep their order, ``q=0``
    means "not this one"), then matched by Babel (``pl-PL`` matches ``pl``). Starlette and Babel do
    not parse the header's quality values, and this is all of it.
    """
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept_language.split(",")):
        tag, _, parameters = item.partition(";")
        tag = tag.strip().lower()
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and math.isfinite(quality) and 0 < quality <= 1:
            ranked.append((-quality, position, tag))
    found: str | None = negotiate_locale([tag for _, _, tag in sorted(ranked)], LANGUAGES, sep="-")
    return found or DEFAULT_LANGUAGE


@cache
def script_messages(script: Path) -> tuple[str, ...]:
    """The msgids a script asks for with ``_("…")``, found by Babel's JavaScript extractor."""
    with script.open("rb") as source:
        found = extract("javascript", source, keywords={"_": None}, comment_tags=(), options={})
        return tuple(dict.fromkeys(str(message) for _, message, _, _ in found))


@cache
def script_strings(script: Path, language: str) -> dict[str, str]:
    """What a page hands its script: each of the script's msgids in the page's language."""
    gettext = translations(language).gettext
    return {message: gettext(message) for message in script_messages(script)}
