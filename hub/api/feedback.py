"""``POST /api/widget/rating`` and ``POST /api/widget/session-rating``: the widget's HTTP path rates a reply
or the conversation (as the visitor socket's ``rate`` and ``rate_session`` frames do), with the widget key,
an allowed Origin and the visitor token of the widget chat's answers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse, read_body
from hub.api.chat import VISITOR_HEADER, _cors_headers, _limit, _origin
from hub.api.chat_models import WidgetRating, WidgetRatingReply, WidgetSessionRating, WidgetSessionRatingReply
from hub.api.errors import UNREACHABLE
from hub.chat.identity import bound_session_id, visitor_id_from_token
from hub.errors import HubError, OriginNotAllowed, SessionNotFound, TenantNotFound, Unauthenticated, Unavailable
from hub.node import Services
from hub.origins import origin_matches
from hub.store.models import Tenant
from hub.store.widget_keys import WidgetKey, get_widget_key


async def _caller(request: Request, services: Services) -> tuple[WidgetKey, dict[str, str]]:
    presented = request.headers.get("x-widget-key", "")
    try:
        key = await get_widget_key(services.engine, presented) if presented else None
    except UNREACHABLE:
        raise Unavailable("the hub cannot reach its database; retry shortly") from None
    if key is None or key.revoked:
        raise Unauthenticated("a valid X-Widget-Key header is required (missing, unknown or revoked key)")
    origin = _origin(request)
    if origin is None or origin in ("null", "invalid") or not origin_matches(origin, key.origins):
        raise OriginNotAllowed("the Origin is not allowed for this widget key")
    return key, _cors_headers(origin)


async def _session(request: Request, services: Services, key: WidgetKey, client_session_id: str) -> tuple[Tenant, str]:
    """The tenant and the real session: a visitor without its token (or another's name) has none to rate."""
    tenant = await services.tenants.get(key.tenant_id)
    if tenant is None or tenant.disabled:
        raise TenantNotFound("the widget key's tenant is disabled")
    visitor_id = visitor_id_from_token(services.settings.secret_key, request.headers.get(VISITOR_HEADER))
    if visitor_id is None:
        raise SessionNotFound("no conversation of this visitor: send the X-Visitor-Token of the chat's answers")
    session_id = bound_session_id(services.settings.secret_key, tenant.id, visitor_id, client_session_id)
    await _limit(services, request, (services.settings.rate_limit_session, "session", session_id))
    return tenant, session_id


async def widget_rating(request: Request) -> Response:
    services: Services = request.state.services
    key, headers = await _caller(request, services)
    try:
        body = await read_body(request, WidgetRating, services.settings.max_body_bytes)
        tenant, session_id = await _session(request, services, key, body.session_id)
        await services.feedback.rate_reply(tenant.id, session_id, body.message_id, body.helpful)
    except HubError as exc:
        exc.headers = {**(exc.headers or {}), **headers}
        raise
    return StructResponse(WidgetRatingReply(body.message_id, body.helpful), headers=headers)


async def widget_session_rating(request: Request) -> Response:
    services: Services = request.state.services
    key, headers = await _caller(request, services)
    try:
        body = await read_body(request, WidgetSessionRating, services.settings.max_body_bytes)
        tenant, session_id = await _session(request, services, key, body.session_id)
        await services.feedback.rate_session(tenant.id, session_id, body.stars, body.comment)
    except HubError as exc:
        exc.headers = {**(exc.headers or {}), **headers}
        raise
    return StructResponse(WidgetSessionRatingReply(body.stars), headers=headers)
