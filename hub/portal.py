"""Customer Portal pages (Jinja2): log in, Widget Setup. They call the same JSON API as everyone.

Each template names its own title; hub.pages renders them in the visitor's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from babel.dates import format_date, format_datetime, get_day_names
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from hub.api.knowledge import UNANSWERED_DAYS, UNANSWERED_GROUPS
from hub.api.models import MAX_PERSON_NAME
from hub.appearance import GREETING_CHARS, LAUNCHER_TEXT_CHARS, MIN_CONTRAST, appearance_of
from hub.auth.permissions import (
    KNOWLEDGE_MANAGE,
    PERSONAS_MANAGE,
    USERS_MANAGE,
    WEBHOOKS_MANAGE,
    WIDGET_MANAGE,
    Principal,
    home_of,
)
from hub.auth.request import optional_principal
from hub.errors import HubError, NotFound
from hub.i18n import LANGUAGES, autonym
from hub.login_form import sent_login
from hub.node import Services
from hub.office_hours import DAYS, zone_names
from hub.pages import public_base, request_language, translator
from hub.store import knowledge as knowledge_store
from hub.store.analytics import conversation_metrics
from hub.store.canned import TEXT_CHARS as CANNED_TEXT_CHARS
from hub.store.canned import TITLE_CHARS as CANNED_TITLE_CHARS
from hub.store.canned import list_canned
from hub.store.credits import this_month
from hub.store.labels import COLORS as LABEL_COLORS
from hub.store.labels import MAX_PER_SESSION as LABELS_PER_SESSION
from hub.store.labels import MAX_PER_TENANT as LABELS_PER_TENANT
from hub.store.labels import NAME_CHARS as LABEL_NAME_CHARS
from hub.store.labels import list_labels
from hub.store.personas import DESCRIPTION_CHARS, NAME_CHARS, PROMPT_CHARS, TONE_CHARS, list_personas
from hub.store.users import list_staff
from hub.store.webhooks import EVENTS, list_deliveries, list_endpoints
from hub.store.widget_keys import list_widget_keys
from hub.tenant_settings import settings_of


def login_context(request: Request) -> dict[str, Any]:
    return {"principal": None, "next": "/portal/", "forgot": "/forgot-password"}


async def login_page(request: Request) -> Response:
    pages: Jinja2Templates = request.state.templates
    return pages.TemplateResponse(request, "login.html", login_context(request))


async def login_form(request: Request) -> Response:
    return await sent_login(request, login_context(request))


async def page_principal(request: Request) -> Principal | None:
    """Who opens a page: None for a stranger or a session that cannot be checked now (the login page follows)."""
    services: Services = request.state.services
    try:
        return await optional_principal(request, services.engine)
    except HubError:
        return None


async def home(request: Request) -> Response:
    """``/``, ``/portal`` and ``/portal/``: the login page for a stranger, the right page for everyone else."""
    principal = await page_principal(request)
    return RedirectResponse("/portal/login" if principal is None else home_of(principal), status_code=303)


def refused(request: Request, principal: Principal, message: str, *, status_code: int = 403) -> Response:
    """A page the role may not use (or that cannot be shown now): a styled page with the navigation the
    person may use and a way on, never a bare text."""
    pages: Jinja2Templates = request.state.templates
    _ = translator(request)
    context = {"principal": principal, "title": _("Not available"), "message": message, "home": home_of(principal)}
    return pages.TemplateResponse(request, "refused.html", context, status_code=status_code)


def private_page(request: Request, template: str, context: dict[str, Any]) -> Response:
    """A page that shows the tenant's own data: never kept by a browser's or a proxy's cache."""
    pages: Jinja2Templates = request.state.templates
    return pages.TemplateResponse(request, template, context, headers={"Cache-Control": "no-store"})


async def widget_setup(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _portal_principal(request, WIDGET_MANAGE)
    if isinstance(principal, Response):
        return principal
    tenant = await services.tenants.get(principal.tenant_id)
    assert tenant is not None
    embed_tag = f'<script src="{widget_url(request, services, tenant.id)}" async></script>'
    keys = [key for key in await list_widget_keys(services.engine, tenant.id) if not key.revoked]
    widget = await services.widgets.state(tenant.id)
    context = {
        "principal": principal,
        "tenant": tenant,
        "embed_tag": embed_tag,
        "keys": keys,
        "look": appearance_of(tenant),
        "assistant": (widget.assistant if widget else None) or "Bob",
        "languages": [(code, autonym(code)) for code in LANGUAGES],
        "min_contrast": MIN_CONTRAST,
        "greeting_chars": GREETING_CHARS,
        "launcher_chars": LAUNCHER_TEXT_CHARS,
    }
    return private_page(request, "widget_setup.html", context)


def widget_url(request: Request, services: Services, tenant_id: str) -> str:
    return f"{public_base(request, services)}/widget/{tenant_id}/widget.js"


async def widget_preview(request: Request) -> Response:
    """Widget Setup's live preview, framed by that page: a sample page with the tenant's real widget on it,
    which the portal around it hands the form's unsaved values (``data-bob-preview``, see widget.js)."""
    principal = await _portal_principal(request, WIDGET_MANAGE)
    if isinstance(principal, Response):
        return principal
    context = {"principal": principal, "script_url": widget_url(request, request.state.services, principal.tenant_id)}
    return private_page(request, "widget_preview.html", context)


async def _portal_principal(request: Request, permission: str) -> Principal | Response:
    principal = await page_principal(request)
    if principal is None:
        return RedirectResponse("/portal/login", status_code=303)
    if permission not in principal.permissions:
        _ = translator(request)
        return refused(request, principal, _("This page is for the tenant's owners and admins."))
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
        "limits": {"name": NAME_CHARS, "description": DESCRIPTION_CHARS, "tone": TONE_CHARS, "prompt": PROMPT_CHARS},
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
    return private_page(request, "knowledge.html", context)


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
        return refused(request, principal, _("No published pricebook holds this tenant's plan."), status_code=503)
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
    return private_page(request, "webhooks.html", context)


async def analytics_page(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _portal_principal(request, USERS_MANAGE)
    if isinstance(principal, Response):
        return principal
    tenant = await services.tenants.get(principal.tenant_id)
    assert tenant is not None
    metrics = await conversation_metrics(services.engine, [tenant.id], 30)
    context = {
        "principal": principal,
        "tenant": tenant,
        "m": metrics,
        "chart": day_chart(metrics["per_day"], request_language(request)),
        "credits": await services.accounts.credits(tenant),
    }
    return private_page(request, "analytics.html", context)


CHART_HEIGHT = 200  # px: the per-day chart's height; its width follows the card (bars are placed in %)
PLOT_TOP, PLOT_BOTTOM = 22, 164  # px: where the bars may reach, where they stand (the x axis)


def _nice_step(peak: int) -> int:
    """A round step for about four gridlines up to ``peak`` (1, 2, 5, 10, 20, 50, …)."""
    rough = max(1, -(-peak // 4))
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= rough:
                return step * scale
        scale *= 10


def day_chart(per_day: list[dict[str, Any]], language: str) -> dict[str, Any]:
    """The conversations-per-day chart, laid out here so the template only draws: bars with their dates
    and values (shown on hover and focus, and read out), gridlines with their values, dated x-axis ticks."""
    count = max(1, len(per_day))
    peak = max([int(point["conversations"]) for point in per_day] + [1])
    step = _nice_step(peak)
    top = step * -(-peak // step)
    span = PLOT_BOTTOM - PLOT_TOP
    width = 100 / count
    every = max(1, -(-count // 6))  # about six dated ticks on a desk; every other one is dropped on a phone
    points = []
    for index, point in enumerate(per_day):
        day = datetime.fromisoformat(str(point["date"])).date()
        value = int(point["conversations"])
        height = span * value / top
        # A tick every ``every`` days and on the last day, none crowding the last one.
        ticked = (index % every == 0 and count - 1 - index >= every / 2) or index == count - 1
        points.append(
            {
                "date": point["date"],
                "short": format_date(day, "d MMM", locale=language),
                "long": format_date(day, "EEEE, d MMMM y", locale=language),
                "value": value,
                "x": index * width,
                "width": width,
                "center": (index + 0.5) * width,
                "y": PLOT_BOTTOM - height,
                "height": height,
                # Labels near an edge grow inwards, so none is cut off by the card.
                "anchor": "start" if index < count / 8 else "end" if index >= count * 7 / 8 else "middle",
                "tick": ticked,
                "minor": ticked and (index // every) % 2 == 1 and index != count - 1,
            }
        )
    grid = [{"value": value, "y": PLOT_BOTTOM - span * value / top} for value in range(0, top + 1, step)]
    return {"points": points, "grid": grid, "height": CHART_HEIGHT, "bottom": PLOT_BOTTOM}


async def tenants_page(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _portal_principal(request, USERS_MANAGE)
    if isinstance(principal, Response):
        return principal
    if not principal.is_platform_admin:
        _ = translator(request)
        return refused(request, principal, _("Registering tenants is for platform admins."))
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
    now, language = datetime.now(UTC), request_language(request)
    invites = [
        {
            "id": invite.id,
            "email": invite.email,
            "name": invite.name,
            "role": invite.role,
            "expired": not invite.live(now),
            "until": format_datetime(invite.expires_at, "d MMM y, HH:mm", tzinfo=UTC, locale=language) + " UTC",
        }
        for invite in await services.team.invites(tenant)
    ]
    context = {
        "principal": principal,
        "tenant": tenant,
        "users": users,
        "seats": seats.limit,
        "seats_taken": seats.taken,
        "seats_invited": sum(not invite["expired"] for invite in invites),
        "invites": invites,
        "emails": services.team.emails,
        "round_robin": settings_of(tenant).round_robin,
    }
    return private_page(request, "team.html", context)


async def hours_page(request: Request) -> Response:
    """Office hours: when a person of the team is meant to be there (``PATCH /api/settings`` saves them)."""
    services: Services = request.state.services
    principal = await _portal_principal(request, USERS_MANAGE)
    if isinstance(principal, Response):
        return principal
    tenant = await services.tenants.get(principal.tenant_id)
    assert tenant is not None
    hours = settings_of(tenant).office_hours
    names = get_day_names("wide", locale=request_language(request))
    days = []
    for number, day in enumerate(DAYS):
        spans = hours.spans(day) if hours is not None else []
        first = spans[0] if spans else None
        days.append(
            {
                "key": day,
                "name": names[number][:1].upper() + names[number][1:],
                "open": first is not None,
                "opens": first.opens if first else "09:00",
                "closes": "23:59" if first and first.closes == "24:00" else first.closes if first else "17:00",
                "more": [f"{s.opens}-{s.closes}" for s in spans[1:]],
            }
        )
    context = {
        "principal": principal,
        "tenant": tenant,
        "hours": hours,
        "days": days,
        "zones": sorted(zone_names()),
        "time_zone": hours.time_zone if hours else "",
        "mail": services.followups.offered,
    }
    return private_page(request, "office_hours.html", context)


async def profile_page(request: Request) -> Response:
    """Your profile: every staff member's own display name (what colleagues and visitors see)."""
    principal = await page_principal(request)
    if principal is None:
        return RedirectResponse("/portal/login", status_code=303)
    if principal.kind != "staff":
        _ = translator(request)
        return refused(request, principal, _("This page is for staff accounts."))
    context = {"principal": principal, "name_chars": MAX_PERSON_NAME}
    return private_page(request, "profile.html", context)


async def canned_page(request: Request) -> Response:
    """Canned replies: what agents insert in Mission Control with ``/`` + search (owners and admins)."""
    services: Services = request.state.services
    principal = await _portal_principal(request, USERS_MANAGE)
    if isinstance(principal, Response):
        return principal
    tenant = await services.tenants.get(principal.tenant_id)
    context = {
        "principal": principal,
        "tenant": tenant,
        "replies": await list_canned(services.engine, principal.tenant_id),
        "limits": {"title": CANNED_TITLE_CHARS, "text": CANNED_TEXT_CHARS},
    }
    return private_page(request, "canned.html", context)


async def labels_page(request: Request) -> Response:
    """Labels: what conversations are about, put on them in Mission Control (owners and admins define them)."""
    services: Services = request.state.services
    principal = await _portal_principal(request, USERS_MANAGE)
    if isinstance(principal, Response):
        return principal
    tenant = await services.tenants.get(principal.tenant_id)
    context = {
        "principal": principal,
        "tenant": tenant,
        "labels": await list_labels(services.engine, principal.tenant_id),
        "colors": LABEL_COLORS,
        "limits": {"name": LABEL_NAME_CHARS, "labels": LABELS_PER_TENANT, "per_session": LABELS_PER_SESSION},
    }
    return private_page(request, "labels.html", context)
