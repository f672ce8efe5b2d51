"""``/docs``: the product page, live. In English or Polish, with this hub's own host in every sample and
the pricing table rendered from the published pricebook (so it changes the moment a version is published)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from hub.node import Node
from hub.portal import public_base

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Bob: API, widget and pricing",
        "intro": "API documentation and the embeddable widget of Bob, your managed AI front office.",
        "paths": "Three paths",
        "path1": "Public, same domain, anonymous: POST /api/chat (e.g. a chat on your marketing page; no login).",
        "path2": "Cross-origin embed: POST /api/widget/chat with X-Widget-Key and an Origin allowed for the key.",
        "path3": "Authenticated app / Mission Control: POST /api/chat/session and POST /api/chat/message (needs "
        "chat.manage, and the CSRF header with a cookie session). Never from anonymous public pages: they get 401.",
        "pick": "Use the block that fits your scenario. Do not copy the admin example into anonymous marketing HTML.",
        "widget": "The widget",
        "widget_text": "Add Bob to any page with one script tag. After onboarding, the embed code for your tenant is "
        "in the Customer Portal under Widget Setup.",
        "personas": "Personas",
        "personas_text": "Personas define how Bob speaks: name, tone, instructions. A default one is created at "
        "registration; edit them in the portal or with the API.",
        "webhooks": "Webhooks",
        "webhooks_text": "Register endpoints in the portal or with POST /api/webhooks. Events: session.created, "
        "message.created, session.takeover, session.handback, session.closed, credits.exhausted. Each delivery is "
        "signed as Standard Webhooks specifies; verify it with any Standard Webhooks library:",
        "pricing": "Pricing",
        "pricing_text": "The published pricebook is the source of truth; this table is its version",
        "feature": "Feature",
        "price": "List price (USD/month)",
        "credits": "AI credits included / month (one credit = one AI reply)",
        "seats": "Team seats",
        "up_to": "up to",
        "unlimited": "unlimited",
        "integrations": "Standard integrations included",
        "support": "Support",
        "reference": "Machine-readable: ",
        "other": "Polski",
    },
    "pl": {
        "title": "Bob: API, widget i cennik",
        "intro": "Dokumentacja API i osadzalny widget Boba — wasz zarządzany front office AI.",
        "paths": "Trzy ścieżki",
        "path1": "Publicznie, ta sama domena, anonimowo: POST /api/chat (np. czat na stronie marketingowej; bez "
        "logowania).",
        "path2": "Osadzenie cross-origin: POST /api/widget/chat z X-Widget-Key i dozwolonym dla klucza Origin.",
        "path3": "Uwierzytelniona aplikacja / Mission Control: POST /api/chat/session i POST /api/chat/message "
        "(wymaga chat.manage oraz nagłówka CSRF przy sesji cookie). Nie do anonimowych stron publicznych: dostaną 401.",
        "pick": "Użyj bloku dopasowanego do Twojego scenariusza. Nie kopiuj przykładu administratora do anonimowego "
        "HTML marketingowego.",
        "widget": "Widget",
        "widget_text": "Dodaj Boba do dowolnej strony jednym tagiem skryptu. Po onboardingu kod osadzenia widgetu jest "
        "dostępny w Portalu Klienta w sekcji Konfiguracja widżetu.",
        "personas": "Persony",
        "personas_text": "Persony definiują sposób wypowiedzi Boba — ton, imię, polecenia. Domyślna powstaje przy "
        "rejestracji; edycja w portalu lub przez API.",
        "webhooks": "Webhooki",
        "webhooks_text": "Zarejestruj endpointy w portalu lub przez POST /api/webhooks. Zdarzenia: session.created, "
        "message.created, session.takeover, session.handback, session.closed, credits.exhausted. Każda dostawa jest "
        "podpisana zgodnie ze Standard Webhooks; zweryfikuj ją dowolną biblioteką Standard Webhooks:",
        "pricing": "Cennik",
        "pricing_text": "Źródłem prawdy jest opublikowany cennik; ta tabela to jego wersja",
        "feature": "Funkcja",
        "price": "Cena katalogowa (USD/mies.)",
        "credits": "Dołączone kredyty AI / mies. (jeden kredyt = jedna odpowiedź AI)",
        "seats": "Miejsca w zespole",
        "up_to": "do",
        "unlimited": "bez limitu",
        "integrations": "Standardowe integracje (w cenie)",
        "support": "Wsparcie",
        "reference": "Dla maszyn: ",
        "other": "English",
    },
}
SUPPORT = {"pl": {"standard": "standardowe", "priority": "priorytetowe", "dedicated": "dedykowane"}}


def _language(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in TEXT:
        return asked
    return "pl" if request.headers.get("accept-language", "").lower().startswith("pl") else "en"


async def docs(request: Request) -> Response:
    node: Node = request.state.node
    lang = _language(request)
    text = TEXT[lang]
    base = public_base(request, node)
    pricebook = node.pricebook.current
    rows: list[dict[str, Any]] = []
    if pricebook is not None:
        for plan in pricebook.plans:
            seats = plan.seats
            rows.append(
                {
                    "name": plan.name,
                    "price": f"${plan.price_usd_month:,}",
                    "credits": f"{plan.ai_credits_month:,}",
                    "seats": text["unlimited"] if seats is None else f"{text['up_to']} {seats}",
                    "integrations": plan.integrations,
                    "support": SUPPORT.get(lang, {}).get(plan.support, plan.support),
                }
            )
    context = {
        "lang": lang,
        "t": text,
        "base": base,
        "pricebook": pricebook,
        "plans": rows,
        "widget_tag": f'<script src="{base}/widget/YOUR_TENANT_UUID/widget.js" async></script>',
    }
    pages: Jinja2Templates = request.state.templates
    return pages.TemplateResponse(request, "docs.html", context, headers={"Cache-Control": "no-cache"})
