"""Pages a person opens without being logged in: an invitation to a team (``/invite/{token}``), "Forgot your
password?" (``/forgot-password``) and a password link (``/reset-password/{token}``).

Opening a link only reads it: an email scanner that follows links uses nothing up. The page's form posts the
token to the API (``/api/invites/accept``, ``/api/auth/password-reset/complete``), which logs the person in;
the script then goes to the page their role may use. A link that cannot be used gets a page that says what
to do (ask for a new one), with 410, never a bare error.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from hub.api.models import MAX_PERSON_NAME
from hub.auth.passwords import MIN_PASSWORD_LENGTH
from hub.node import Services
from hub.pages import request_language, translator
from hub.team import role_name

# The token is in the path: never sent on to another page, never kept by a cache or an index.
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
MISSION_CONTROL_LOGIN = "/mission-control/login"


def _login_of(request: Request) -> str:
    """Back to the login page the person came from (only the two known ones)."""
    return MISSION_CONTROL_LOGIN if request.query_params.get("from") == "mission-control" else "/portal/login"


async def invite_page(request: Request) -> Response:
    services: Services = request.state.services
    pages: Jinja2Templates = request.state.templates
    _ = translator(request)
    found = await services.team.open_invitation(request.path_params["token"])
    context: dict[str, Any]
    if found is None:
        context = {
            "principal": None,
            "title": _("This invitation link no longer works"),
            "message": _(
                "It was used already, revoked, or it has expired (links work for 7 days). Ask the person who "
                "invited you for a new one, or log in if you have set your password."
            ),
            "login": "/portal/login",
        }
        return pages.TemplateResponse(request, "link_invalid.html", context, status_code=410, headers=HEADERS)
    invite, tenant = found
    context = {
        "principal": None,
        "invite": invite,
        "tenant": tenant,
        "role": role_name(invite.role, request_language(request)),
        "min_password": MIN_PASSWORD_LENGTH,
        "name_chars": MAX_PERSON_NAME,
    }
    return pages.TemplateResponse(request, "invite.html", context, headers=HEADERS)


async def forgot_page(request: Request) -> Response:
    services: Services = request.state.services
    pages: Jinja2Templates = request.state.templates
    _ = translator(request)
    login = _login_of(request)
    context = {"principal": None, "login": login, "emails": services.resets.emails}
    if login == MISSION_CONTROL_LOGIN:
        context["area"] = _("Mission Control")
    return pages.TemplateResponse(request, "forgot_password.html", context, headers=HEADERS)


async def reset_page(request: Request) -> Response:
    services: Services = request.state.services
    pages: Jinja2Templates = request.state.templates
    _ = translator(request)
    user = await services.resets.account_of(request.path_params["token"])
    context: dict[str, Any]
    if user is None:
        context = {
            "principal": None,
            "title": _("This password link no longer works"),
            "message": _(
                "It was used already, or it has expired (links work for one hour), or a newer password was set "
                "since. Ask for a new link."
            ),
            "login": "/portal/login",
            "again": "/forgot-password",
        }
        return pages.TemplateResponse(request, "link_invalid.html", context, status_code=410, headers=HEADERS)
    context = {"principal": None, "email": user.email, "min_password": MIN_PASSWORD_LENGTH}
    return pages.TemplateResponse(request, "reset_password.html", context, headers=HEADERS)
