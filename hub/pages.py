"""The hub's HTML pages (Customer Portal, Mission Control, ``/docs``): their Jinja2 environment and language.

A page's language is the ``?lang=`` of its switch (then remembered in a cookie), else the remembered
choice, else the browser's ``Accept-Language``. Templates translate with ``_("…")`` and ``{% trans %}``
(Jinja2's i18n extension, new-style: variables are escaped, then substituted).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.runtime import Context
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.templating import Jinja2Templates, _TemplateResponse

from hub.assets import asset_dir
from hub.i18n import LANGUAGES, autonym, negotiate, script_strings, translations

if TYPE_CHECKING:
    from hub.node import Services

LANGUAGE_COOKIE = "bob_lang"
LANGUAGE_COOKIE_MAX_AGE_S = 365 * 86400


def request_language(request: Request) -> str:
    for asked in (request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if asked in LANGUAGES:
            return asked
    return negotiate(request.headers.get("accept-language", ""))


def public_base(request: Request, services: Services) -> str:
    """The hub's origin for links a person will open: ``HUB_PUBLIC_URL``, else the one this request came to."""
    return services.settings.public_url or str(request.base_url).rstrip("/")


def translator(request: Request) -> Callable[[str], str]:
    """``_ = translator(request)``: a handler's own strings (plain-text answers) in the page's language."""
    return translations(request_language(request)).gettext


@jinja2.pass_context
def _gettext(context: Context, message: str) -> str:
    return translations(context["lang"]).gettext(message)


@jinja2.pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return translations(context["lang"]).ngettext(singular, plural, n)


@jinja2.pass_context
def _pgettext(context: Context, message_context: str, message: str) -> str:
    return str(translations(context["lang"]).pgettext(message_context, message))


@jinja2.pass_context
def _script_strings(context: Context, script: str) -> dict[str, str]:
    """``{{ script_strings("dashboard.js")|tojson }}``: the strings a script of static/ needs, for this page."""
    return script_strings(asset_dir("static") / script, context["lang"])


class Pages(Jinja2Templates):
    """Jinja2Templates that render in the request's language and remember a language chosen with ``?lang=``."""

    def TemplateResponse(
        self,
        request: Request,
        name: str,
        context: dict[str, Any] | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> _TemplateResponse:
        language = request_language(request)
        page_context = {
            **(context or {}),
            "lang": language,
            "languages": [(code, autonym(code)) for code in LANGUAGES],
        }
        response = super().TemplateResponse(request, name, page_context, status_code, headers, media_type, background)
        response.headers["Content-Language"] = language
        response.headers.add_vary_header("Accept-Language")
        response.headers.add_vary_header("Cookie")
        asked = request.query_params.get("lang")
        if asked in LANGUAGES:
            # Not a secret and read by no script: HttpOnly, and Lax so that a link into the hub keeps it.
            response.set_cookie(
                LANGUAGE_COOKIE, asked, max_age=LANGUAGE_COOKIE_MAX_AGE_S, httponly=True, samesite="lax", path="/"
            )
        return response


def templates() -> Pages:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(asset_dir("templates")),
        autoescape=jinja2.select_autoescape(),
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext, ngettext=_ngettext, pgettext=_pgettext, newstyle=True
    )
    env.globals["script_strings"] = _script_strings
    return Pages(env=env)
