"""One message catalog per language: every string of the code in every catalog, the language negotiated
from Accept-Language, a switch that is remembered, and each script handed its strings by the page."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from hub.bundle import widget_script
from hub.i18n import LANGUAGES, catalog_path, negotiate, script_messages, translations
from hub.pages import LANGUAGE_COOKIE
from tests.accounts import create_user
from tests.conftest import RunningHub

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "static"
STRINGS_BLOCK = re.compile(r'<script type="application/json" id="bob-strings">(.*?)</script>', re.S)
# What a translation must keep as the English has it: markup (a translation is trusted HTML) and placeholders.
KEPT = re.compile(r"<[^>]*>|[\"&]")


def key(message: Message) -> tuple[str | None, str | tuple[str, ...]]:
    return message.context, message.id if isinstance(message.id, str) else tuple(message.id)


def catalog_problems(template: Catalog, catalog: Catalog) -> list[str]:
    """Everything that keeps a catalog from being the complete source of its language's strings."""
    wanted = {key(message) for message in template if message.id}
    held = {key(message): message for message in catalog if message.id}
    language = catalog.locale_identifier
    problems = [f"{language}: missing {k!r} (run pybabel update, then translate)" for k in sorted(wanted - set(held))]
    problems += [f"{language}: {k!r} is used nowhere (pybabel update drops it)" for k in sorted(set(held) - wanted)]
    for k, message in held.items():
        strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
        ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
        if message.fuzzy:
            problems.append(f"{language}: {k!r} is fuzzy: check the translation and remove the flag")
        if not all(strings):
            problems.append(f"{language}: {k!r} is not translated")
        elif any(sorted(KEPT.findall(s)) != sorted(KEPT.findall(ids[0])) for s in strings):
            problems.append(f"{language}: {k!r} changes the markup or quotes of the English")
    for message, errors in catalog.check():
        problems += [f"{language}: {key(message)!r}: {error}" for error in errors]
    return problems


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """Every string of hub/, templates/, static/ and widget/, found by Babel's extractors as README's command does."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        CommandLineInterface().run(["pybabel", "-q", "extract", "-o", str(pot)])
    with pot.open("rb") as template:
        return read_po(template)


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_catalog_holds_every_string_of_the_code_translated(extracted: Catalog, language: str) -> None:
    assert len(extracted) > 100, "the extractors found the strings of the code, templates and scripts"
    with catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    assert catalog_problems(extracted, catalog) == []


def test_a_string_in_one_language_only_is_reported(extracted: Catalog) -> None:
    with catalog_path("pl").open("rb") as po:
        polish = read_po(po, locale="pl")
    polish.delete("Widget Setup")
    polish.add("Only in Polish", "Tylko po polsku")
    polish.get("Team").flags.add("fuzzy")  # type: ignore[union-attr]
    polish.get("Send").string = ""  # type: ignore[union-attr]
    polish.get("Visitor %(id)s").string = 'Odwiedzający "%(id)s"'  # type: ignore[union-attr]
    problems = "\n".join(catalog_problems(extracted, polish))
    assert "missing (None, 'Widget Setup')" in problems
    assert "(None, 'Only in Polish') is used nowhere" in problems
    assert "(None, 'Team') is fuzzy" in problems and "(None, 'Send') is not translated" in problems
    assert "(None, 'Visitor %(id)s') changes the markup" in problems


class BareText(HTMLParser):
    """Words a template writes without the catalog: text outside code samples, and readable attributes."""

    READABLE = ("title", "placeholder", "aria-label", "alt", "label")
    # Names, shortcuts, addresses and the API's own values read the same in every language.
    SAME_IN_EVERY_LANGUAGE = re.compile(
        r"(· Bob|Bob ·|Mission Control · Bob|Bob · Mission Control|Alt\+[A-Z]|\d\. POST /api/\S+|/api/\S+"
        r"|https://\S+|live|test)"
    )

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append(tag)
        self.found += [value for name, value in attrs if name in self.READABLE and value and self.wordy(value)]

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        if not {"pre", "code", "script", "style"} & set(self.open) and self.wordy(data.strip()):
            self.found.append(data.strip())

    def wordy(self, text: str) -> bool:
        return bool(re.search("[A-Za-z]", text)) and not self.SAME_IN_EVERY_LANGUAGE.fullmatch(text)


@pytest.mark.parametrize("template", sorted((ROOT / "templates").glob("*.html")), ids=lambda path: path.name)
def test_templates_write_no_words_around_the_catalog(template: Path) -> None:
    source = re.sub(r"\{#.*?#\}|\{%-?\s*trans\b.*?endtrans\s*-?%\}", "", template.read_text(), flags=re.S)
    parser = BareText()
    parser.feed(re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "", source, flags=re.S))
    assert parser.found == [], "wrap them in _() or {% trans %}"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("en;q=0.5, pl", "pl"),
        ("pl-PL,pl;q=0.9", "pl"),
        ("PL", "pl"),
        ("de-DE, pl;q=0.3, en;q=0.2", "pl"),
        ("en-US,en;q=0.9,pl;q=0.8", "en"),
        ("de, fr;q=0.9", "en"),
        ("pl;q=0, en;q=0.1", "en"),
        ("pl;q=nonsense", "en"),
        ("*", "en"),
        ("", "en"),
    ],
)
def test_accept_language_is_negotiated_by_quality(header: str, language: str) -> None:
    assert negotiate(header) == language


def test_the_polish_catalog_uses_the_product_pages_names() -> None:
    polish = translations("pl")
    assert polish.gettext("Customer Portal") == "Portal Klienta"
    assert polish.gettext("Widget Setup") == "Konfiguracja widżetu"
    assert polish.gettext("List price (USD/month)") == "Cena katalogowa (USD/mies.)"
    assert polish.gettext("Team seats") == "Miejsca w zespole"


async def test_pages_follow_accept_language_and_remember_the_switch(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        polish = await client.get("/portal/login", headers={"Accept-Language": "en;q=0.5, pl"})
        assert '<html lang="pl">' in polish.text and "<h1>Zaloguj się</h1>" in polish.text
        assert "Portal Klienta" in polish.text and LANGUAGE_COOKIE not in polish.cookies
        assert polish.headers["content-language"] == "pl" and "Accept-Language" in polish.headers["vary"]
        english = await client.get("/portal/login", headers={"Accept-Language": "de-DE,de;q=0.9"})
        assert '<html lang="en">' in english.text and "<h1>Log in</h1>" in english.text
        assert 'href="?lang=pl"' in english.text, "the switch to the other language"

        switched = await client.get("/mission-control/login?lang=pl", headers={"Accept-Language": "en"})
        assert switched.cookies[LANGUAGE_COOKIE] == "pl" and "Mission Control: logowanie" in switched.text
        remembered = await client.get("/docs", headers={"Accept-Language": "en"})
        assert remembered.headers["content-language"] == "pl" and "Trzy ścieżki" in remembered.text
        back = await client.get("/docs?lang=en")
        assert back.cookies[LANGUAGE_COOKIE] == "en" and "Three paths" in back.text
        assert "Three paths" in (await client.get("/docs", headers={"Accept-Language": "pl"})).text


async def test_polish_docs_keep_the_pricing_terms_of_the_product_page(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        page = (await client.get("/docs?lang=pl")).text
    terms = ["Cennik", "Funkcja", "Cena katalogowa (USD/mies.)", "Dołączone kredyty AI / mies.", "Miejsca w zespole"]
    terms += ["Standardowe integracje (w cenie)", "Wsparcie", "do 3", "bez limitu", "standardowe", "dedykowane"]
    assert [term for term in terms if term not in page] == []


async def test_polish_portal_and_mission_control_hand_their_scripts_polish_strings(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    email = f"owner@{tenant.business_id}.example.com"
    await create_user(hub.node.engine, tenant_id=tenant.id, email=email, password="portal-pass", role="owner")
    async with httpx.AsyncClient(base_url=hub.http, headers={"Accept-Language": "pl-PL"}) as client:
        await client.post("/api/auth/login", json={"email": email, "password": "portal-pass"})
        portal = await client.get("/portal/widget")
        dashboard = await client.get("/mission-control")
        forbidden = await client.get("/portal/tenants")
    assert "<h1>Konfiguracja widżetu</h1>" in portal.text and "Bob · Portal Klienta" in portal.text
    for page, script in ((portal, "portal.js"), (dashboard, "dashboard.js")):
        match = STRINGS_BLOCK.search(page.text)
        assert match is not None, script
        strings = json.loads(match.group(1))
        assert set(strings) == set(script_messages(STATIC / script))
        assert all(strings[message] == translations("pl").gettext(message) for message in strings)
        assert page is portal or strings["Connected"] == "Połączono"
    assert forbidden.status_code == 403 and forbidden.headers["content-type"] == "text/html; charset=utf-8"
    assert "<p>Rejestrowanie klientów jest dla administratorów platformy.</p>" in forbidden.text
    assert "Przejdź do swojej strony startowej" in forbidden.text


def baked_config(bundle: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(re.search(r"config = (\{.*?\});\n", bundle).group(1))  # type: ignore[union-attr]
    return config


async def test_widget_bundle_carries_every_language_and_the_tenants_choice(hub: RunningHub) -> None:
    """Every language, also for a tenant that set one: it may switch in the portal, and every open widget follows."""
    automatic = await hub.tenant()
    polish = await hub.tenant(language="pl-PL")
    async with httpx.AsyncClient(base_url=hub.http) as client:
        both = baked_config((await client.get(f"/widget/{automatic.id}/widget.js")).text)
        chosen = baked_config((await client.get(f"/widget/{polish.id}/widget.js")).text)
    assert set(both["strings"]) == set(chosen["strings"]) == set(LANGUAGES)
    assert both["appearance"]["language"] == "auto" and chosen["appearance"]["language"] == "pl"
    strings = both["strings"]
    assert set(strings["en"]) == set(strings["pl"]) == set(script_messages(widget_script()))
    assert strings["pl"]["Send"] == "Wyślij" and strings["en"]["Send"] == "Send"
