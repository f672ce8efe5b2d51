"""Customer Portal pages (Jinja2): log in, Widget Setup. They call the same JSON API as everyone.

Each template names its own title; hub.pages renders them in the visitor's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from hub.api.knowledge import UNANSWERED_DAYS, UNANSWERED_GROUPS
from hub.auth.permissions import (
    KNOWLEDGE_MANAGE,
    PERSONAS_MANAGE,
    USERS_MANAGE,
    WEBHOOKS_MANAGE,
    WIDGET_MANAGE,
    Principal,
)
from hub.auth.request import optional_principal
from hub.errors import HubError, NotFound
from hub.i18n import autonym
from hub.node import Services
from hub.pages import translator
from hub.store import knowledge as knowledge_store
from hub.store.analytics import conversation_metrics
from hub.store.credits import this_month
from hub.store.personas import list_personas
from hub.store.users import list_staff
from hub.store.webhooks import EVENTS, list_deliveries, list_endpoints
from hub.store.widget_keys import list_widget_keys


def public_base(request: Request, services: Services) -> str:
    return services.settings.public_url or str(request.base_url).rstrip("/")


async def login_page(request: Request) -> Response:
    pages: Jinja2Templates = request.state.templates
    return pages.TemplateResponse(request, "login.html", {"principal": None})


async def widget_setup(request: Request) -> Response:
    services: Services = request.state.services
    try:
        principal = await optional_principal(request, services.engine)
    except HubError:
        principal = None
    if principal is None:
        return RedirectResponse("/portal/login", status_code=303)
    if WIDGET_MANAGE not in principal.permissions:
        _ = translator(request)
        message = _("Widget Setup needs the widget.manage permission (owners and admins).")
        return PlainTextResponse(message, status_code=403)
    tenant = await services.tenants.get(principal.tenant_id)
    assert tenant is not None
    script_url = f"{public_base(request, services)}/widget/{tenant.id}/widget.js"
    embed_tag = f'<script src="{script_url}" async></script>'
    keys = [key for key in await list_widget_keys(services.engine, tenant.id) if not key.revoked]
    context = {
        "principal": principal,
        "tenant": tenant,
        "embed_tag": embed_tag,
        "keys": keys,
        "preview_tag": Markup('<script src="{}" async></script>').format(escape(script_url)),
    }
    pages: Jinja2Templates = request.state.templates
    return pages.TemplateResponse(request, "widget_setup.html", context)


async def _portal_principal(request: Request, permission: str) -> Principal | Response:
    services: Services = request.state.services
    try:
        principal = await optional_principal(request, services.engine)
    except HubError:
        principal = None
    if principal is None:
        return RedirectResponse("/portal/login", status_code=303)
    if permission not in principal.permissions:
        _ = translator(request)
        message = _("This page needs the %(permission)s permission (owners and admins).")
        return PlainTextResponse(message % {"permission": permission}, status_code=403)
    return principal


async def personas_page(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _portal_principal(request, PERSONAS_MANAGE)
    if isinstance(principal, Response):
        return principal
    tenant = await services.tenants.get(principal.tenant_id)
    context = {
        "principal": principal,
        "tenant": tenant,
        "personas": await list_personas(services.engine, principal.tenant_id),
    }
    pages: Jinja2Templates = request.state.templates
    return pages.TemplateResponse(request, "personas.html", context)


async def knowledge_page(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _portal_principal(request, KNOWLEDGE_MANAGE)
    if isinstance(principal, Response):
        return principal
    since = datetime.now(UTC) - timedelta(days=UNANSWERED_DAYS)
    async with services.engine.connect() as connection:
        entries = await knowledge_store.list_entries(connection, principal.tenant_id)
        groups = await knowledge_store.unanswered_groups(connection, principal.tenant_id, since, UNANSWERED_GROUPS)
        answers = [await knowledge_store.agent_answer(connection, principal.tenant_id, g.session_id) for g in groups]
    context = {
        "principal": principal,
        "tenant": await services.tenants.get(principal.tenant_id),
        "entries": entries,
        "unanswered": list(zip(groups, answers, strict=True)),
        "languages_named": {code: autonym(code) for code in knowledge_store.LANGUAGES},
    }
    pages: Jinja2Templates = request.state.templates
    return pages.TemplateResponse(request, "knowledge.html", context, headers={"Cache-Control": "no-store"})


async def plan_page(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _portal_principal(request, USERS_MANAGE)
    if isinstance(principal, Response):
        return principal
    tenant = await services.tenants.get(principal.tenant_id)
    assert tenant is not None
    pricebook = services.pricebook.current
    try:
        plan = services.accounts.plan_of(tenant)
    except NotFound:
        _ = translator(request)
        return PlainTextResponse(_("No published pricebook holds this tenant's plan."), status_code=503)
    context = {
        "principal": principal,
        "tenant": tenant,
        "pricebook": pricebook,
        "plan": plan,
        "used": (await services.accounts.credits(tenant)).used,
        "month": this_month(),
        "seats_taken": (await services.accounts.seats(tenant)).taken,
    }
    pages: Jinja2Templates = request.state.templates
    return pages.TemplateResponse(request, "plan.html", context)


async def webhooks_page(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _portal_principal(request, WEBHOOKS_MANAGE)
    if isinstance(principal, Response):
        return principal
    endpoints = await list_endpoints(services.engine, principal.tenant_id)
    context = {
        "principal": principal,
        "tenant": await services.tenants.get(principal.tenant_id),
        "endpoints": endpoints,
        "deliveries": {e.id: await list_deliveries(services.engine, principal.tenant_id, e.id, 20) for e in endpoints},
        "events": EVENTS,
    }
    pages: Jinja2Templates = request.state.templates
    return pages.TemplateResponse(request, "webhooks.html", context, headers={"Cache-Control": "no-store"})


async def analytics_page(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _portal_principal(request, USERS_MANAGE)
    if isinstance(principal, Response):
        return principal
    tenant = await services.tenants.get(principal.tenant_id)
    assert tenant is not None
    context = {
        "principal": principal,
        "tenant": tenant,
        "m": await conversation_metrics(services.engine, [tenant.id], 30),
        "credits": await services.accounts.credits(tenant),
    }
    pages: Jinja2Templates = request.state.templates
    return pages.TemplateResponse(request, "analytics.html", context, headers={"Cache-Control": "no-store"})


async def tenants_page(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _portal_principal(request, USERS_MANAGE)
    if isinstance(principal, Response):
        return principal
    if not principal.is_platform_admin:
        _ = translator(request)
        return PlainTextResponse(_("Registering tenants is for platform admins."), status_code=403)
    pricebook = services.pricebook.current
    context = {"principal": principal, "plans": pricebook.plans if pricebook else ()}
    pages: Jinja2Templates = request.state.templates
    return pages.TemplateResponse(request, "tenants.html", context)


async def team_page(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _portal_principal(request, USERS_MANAGE)
    if isinstance(principal, Response):
        return principal
    tenant = await services.tenants.get(principal.tenant_id)
    assert tenant is not None
    users = await list_staff(services.engine, tenant.id)
    seats = await services.accounts.seats(tenant)
    context = {
        "principal": principal,
        "tenant": tenant,
        "users": users,
        "seats": seats.limit,
        "seats_taken": seats.taken,
    }
    pages: Jinja2Templates = request.state.templates
    return pages.TemplateResponse(request, "team.html", context, headers={"Cache-Control": "no-store"})
