"""Mission Control pages: the agents' live dashboard. The page is static; everything live comes over /ws/agent.

Its service worker (static/sw.js: push alerts, hub.push) is served from ``/mission-control/sw.js`` with
``Service-Worker-Allowed``, so that it may control ``/mission-control`` itself.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from hub.assets import asset_dir
from hub.auth.permissions import CHAT_MANAGE, Principal
from hub.login_form import sent_login
from hub.node import Services
from hub.pages import request_language, translator
from hub.portal import page_principal, refused
from hub.store.users import remember_language

logger = logging.getLogger(__name__)


def login_context(request: Request) -> dict[str, Any]:
    _ = translator(request)
    context = {"title": _("Mission Control: log in"), "area": _("Mission Control"), "principal": None}
    context["next"] = "/mission-control"
    context["forgot"] = "/forgot-password?from=mission-control"
    return context


async def login_page(request: Request) -> Response:
    pages: Jinja2Templates = request.state.templates
    return pages.TemplateResponse(request, "login.html", login_context(request))


async def login_form(request: Request) -> Response:
    return await sent_login(request, login_context(request))


async def dashboard(request: Request) -> Response:
    services: Services = request.state.services
    principal = await page_principal(request)
    if principal is None:
        return RedirectResponse("/mission-control/login", status_code=303)
    if CHAT_MANAGE not in principal.permissions:
        _ = translator(request)
        return refused(request, principal, _("Mission Control is for the tenant's staff (agents, owners and admins)."))
    tenant = await services.tenants.get(principal.tenant_id)
    await _remember_language(services, principal, request_language(request))
    pages: Jinja2Templates = request.state.templates
    return pages.TemplateResponse(
        request,
        "dashboard.html",
        {"principal": principal, "tenant": tenant, "push_key": services.push.public_key},
        headers={"Cache-Control": "no-store"},
    )


async def _remember_language(services: Services, principal: Principal, language: str) -> None:
    """The language this person works in: a mention emailed while they are away is written in it. A help only,
    so the page opens when it cannot be stored (logged)."""
    try:
        await remember_language(services.engine, principal.tenant_id, principal.user_id, language)
    except Exception as exc:
        logger.warning("storing the Mission Control language of %s failed: %r", principal.user_id, exc)


SERVICE_WORKER_SCOPE = "/mission-control"


async def service_worker(request: Request) -> Response:
    """The push alerts' service worker; revalidated on every check, so a new hub's worker replaces the old."""
    headers = {"Service-Worker-Allowed": SERVICE_WORKER_SCOPE, "Cache-Control": "no-cache"}
    return FileResponse(asset_dir("static") / "sw.js", media_type="text/javascript", headers=headers)
