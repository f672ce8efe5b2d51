"""The login page's form sent by the browser itself: Enter pressed before the page's script ran (a slow network)
or a browser without scripts. It is the same login as ``POST /api/auth/login``, answered with a redirect, and the
form is a POST, so the password never lands in an address, a history or an access log."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from hub.api.auth import LOGIN_BODY_BYTES, authenticate, set_login_cookies
from hub.api.bodies import read_limited
from hub.auth.tokens import issue_token
from hub.errors import InvalidInput, PayloadTooLarge, RateLimited, Unauthenticated
from hub.node import Services
from hub.origins import normalise_origin, own_origins
from hub.pages import translator

FORM_TYPE = "application/x-www-form-urlencoded"


def sent_from_here(request: Request, services: Services) -> bool:
    """A browser says where a form came from; a login form from another site is refused (login CSRF)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser's form: nothing to forge
    try:
        sender = normalise_origin(origin)
    except InvalidInput:
        return False
    return sender in own_origins(services.settings.public_url, request.url.scheme, request.headers.get("host"))


async def _fields(request: Request) -> dict[str, str] | None:
    """The form's fields, or None for a body that is not a small urlencoded form."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_TYPE:
        return None
    try:
        body = await read_limited(request, LOGIN_BODY_BYTES)
        parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=8)
    except (PayloadTooLarge, ValueError):  # ValueError: more fields than a login form has
        return None
    return {name: values[0] for name, values in parsed.items()}


async def sent_login(request: Request, context: dict[str, Any]) -> Response:
    """Logs in and goes where the page's script would have gone, or shows the login page again with the error."""
    services: Services = request.state.services
    _ = translator(request)
    fields = await _fields(request) if sent_from_here(request, services) else None
    if fields is None:
        return _again(request, context, 400, _("Log in with the form on this page."))
    email, password = fields.get("email", "").strip(), fields.get("password", "")
    if not email or not password:
        return _again(request, context, 400, _("Enter your email and password."), email)
    try:
        user = await authenticate(request, services, "staff", email, password)
    except RateLimited as refused:
        message = _("Too many failed logins; try again in %(s)s seconds.") % {"s": refused.retry_after}
        return _again(request, context, 429, message, email, {"Retry-After": str(refused.retry_after)})
    except Unauthenticated:
        return _again(request, context, 401, _("Wrong email or password."), email)
    response = RedirectResponse(context.get("next") or "/portal/", status_code=303)
    set_login_cookies(response, request, services, await issue_token(services.engine, user))
    response.headers["Cache-Control"] = "no-store"
    return response


def _again(
    request: Request,
    context: dict[str, Any],
    status: int,
    error: str,
    email: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    pages: Jinja2Templates = request.state.templates
    page = {**context, "error": error, "email": email[:320]}
    return pages.TemplateResponse(request, "login.html", page, status_code=status, headers=headers)
