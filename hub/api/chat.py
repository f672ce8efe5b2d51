"""The product page's three HTTP paths (plus history), one function each.

1. ``POST /api/chat``: public, same origin, anonymous; the visitor is a signed cookie.
2. ``POST /api/widget/chat``: cross-origin, ``X-Widget-Key`` + an Origin allowed for that key; the
   visitor is the ``X-Visitor-Token`` the first answer handed out.
3. ``POST /api/chat/session`` / ``POST /api/chat/message``: the logged-in app (``chat.manage``).

A client-chosen ``session_id`` is only a name: the real session is derived from it, the tenant and
the visitor, so guessing another visitor's ``session_id`` opens a new, empty conversation.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import msgspec
from limits import parse
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hub import logs
from hub.api.bodies import StructResponse, read_body, read_path, read_query
from hub.api.chat_models import (
    AppMessage,
    AppMessageRequest,
    AppSession,
    AppSessionRequest,
    ChatReply,
    ChatRequest,
    History,
    HistoryPath,
    HistoryQuery,
    VisitorContextAnswer,
    VisitorPage,
    WidgetChatReply,
    WidgetChatRequest,
)
from hub.api.errors import UNREACHABLE, error_response
from hub.api.models import ManagedQuery
from hub.api.turns import sse_event, sse_turn, start_turn, turn_summary
from hub.auth.permissions import CHAT_MANAGE, Principal
from hub.auth.request import optional_principal
from hub.chat.control import Agent
from hub.chat.identity import (
    bound_session_id,
    new_session_id,
    new_visitor_token,
    resume_token,
    visitor_id_from_token,
)
from hub.chat.visits import InvalidUrl
from hub.errors import (
    Forbidden,
    HubError,
    InvalidInput,
    OriginNotAllowed,
    PayloadTooLarge,
    RateLimited,
    SessionNotFound,
    TenantNotFound,
    Unauthenticated,
    Unavailable,
)
from hub.node import Services
from hub.origins import normalise_origin, origin_matches, own_origins, page_origin, page_url
from hub.protocol import LANGUAGE_TAG, TIME_ZONE_NAME, message_frame, page_title
from hub.store.models import Tenant
from hub.store.tenants import get_tenant_by_business_id
from hub.store.transcript import get_session, messages_after
from hub.store.visits import Browser, PageView, Sighting
from hub.store.widget_keys import WidgetKey, get_widget_key

VISITOR_COOKIE = "bob_visitor"
VISITOR_HEADER = "X-Visitor-Token"
EXPOSED_WITH_TOKEN = f"Retry-After, {VISITOR_HEADER}"
ANONYMOUS_APP_CALL = (
    "this endpoint is for the logged-in app (Mission Control) and needs chat.manage; "
    "anonymous pages use POST /api/chat instead"
)


def _origin(request: Request) -> str | None:
    raw = request.headers.get("origin")
    if raw is None or raw == "null":
        return raw
    try:
        return normalise_origin(raw)
    except InvalidInput:
        return "invalid"


async def _limit(services: Services, request: Request, *scoped: tuple[str, str, str]) -> None:
    """Per-address, plus the given (rate, scope, key) limits; shared through Redis when nodes run several."""
    address = request.client.host if request.client else "unknown"
    for rate, scope, key in ((services.settings.rate_limit_address, "address", address), *scoped):
        wait = await services.throttle.over_limit(_rate(rate), scope, key)
        if wait is not None:
            raise RateLimited(f"too many requests ({scope}); retry in {wait} s", wait)


def _check_length(text: str, services: Services) -> str:
    """The message limit is a setting, so it is checked here rather than in the model."""
    if len(text) > services.settings.max_message_chars:
        raise PayloadTooLarge(f"'message' is longer than {services.settings.max_message_chars} characters")
    return text


_rate = cache(parse)  # settings hold rates as text; parse each once, not per request


def _visitor(services: Services, presented: str | None) -> tuple[str, str]:
    """The caller's visitor token and id: the one it presented if genuine, else a new one."""
    visitor_id = visitor_id_from_token(services.settings.secret_key, presented)
    if presented is not None and visitor_id is not None:
        return presented, visitor_id
    token = new_visitor_token(services.settings.secret_key)
    visitor_id = visitor_id_from_token(services.settings.secret_key, token)
    assert visitor_id is not None
    return token, visitor_id


def _wants_stream(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


async def _answer(
    request: Request,
    services: Services,
    tenant: Tenant,
    session_id: str,
    client_session_id: str,
    text: str,
    extra: dict[str, Any],
    headers: dict[str, str],
    answer: type[ChatReply],
    handoff: bool = False,
    email: str | None = None,
    language: str | None = None,
    time_zone: str | None = None,
    page: VisitorPage | None = None,
) -> Response:
    logs.tenant_id.set(tenant.id)  # the turn's log lines, and its AI reply's, name them
    logs.session_id.set(session_id)
    seen = _seen(request, services, page, language, time_zone)  # before the turn: a bad page is a 400
    if email is not None:  # before the turn: a bad address is a 400 and nothing is stored
        await services.followups.leave_email(tenant, session_id, email, language)
    turn = await start_turn(services, tenant, session_id, text, handoff=handoff)
    if seen is not None:
        services.visits.saw(tenant.id, session_id, seen)
    if _wants_stream(request):
        return StreamingResponse(
            sse_turn(services, tenant, turn, session_id, client_session_id, extra, (language, time_zone)),
            media_type="text/event-stream",
            # Runs even when the client leaves before the stream starts, so no listener stays behind.
            background=BackgroundTask(turn.close),
            headers={**headers, "Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
    try:
        frames = [frame async for frame in turn.frames()]
    except TimeoutError:
        raise Unavailable("the AI did not answer in time; the message is stored") from None
    summary = await turn_summary(services, tenant, session_id, client_session_id, frames, (language, time_zone))
    reply = msgspec.convert({**summary, **extra}, answer)
    return StructResponse(reply, headers={**headers, "Cache-Control": "no-store"})


def _seen(
    request: Request, services: Services, page: VisitorPage | None, language: str | None, time_zone: str | None
) -> Sighting | None:
    """The visitor context a chat request tells (``hub.chat.visits``): the body's ``page``, else the ``Referer``
    when it is a page of the request's Origin; the widget's language and time zone, the browser's language."""
    origin = _origin(request)
    if page is not None:
        try:
            url = page_url(page.url)
        except ValueError as exc:
            raise InvalidUrl(str(exc)) from None
        if origin is not None and page_origin(url) != origin:
            raise InvalidUrl("'page.url' must be a page of the request's Origin")
        title = page_title(page.title)
    else:
        try:  # a header the browser chose: a bad one tells nothing, it refuses nothing
            url = page_url(request.headers.get("referer", ""))
            if origin is not None and page_origin(url) != origin:
                return None
        except (ValueError, InvalidInput):
            return None
        title = None
    browser_language = request.headers.get("accept-language", "").split(",")[0].split(";")[0].strip()
    browser = Browser(
        _matching(LANGUAGE_TAG, language, 35),
        _matching(LANGUAGE_TAG, browser_language, 35),
        _matching(TIME_ZONE_NAME, time_zone, 64),
    )
    return Sighting([PageView(url, title, services.visits.clock())], browser)


def _matching(pattern: str, value: str | None, max_chars: int) -> str | None:
    """A language tag or zone name for the team to read; anything else is left out (these fields serve other
    purposes too, so they are not refused for it)."""
    return value if value and len(value) <= max_chars and re.fullmatch(pattern, value) else None


async def public_chat(request: Request) -> Response:
    services: Services = request.state.services
    origin = _origin(request)
    if origin is not None and origin not in own_origins(
        services.settings.public_url, request.url.scheme, request.headers.get("host")
    ):
        raise OriginNotAllowed("POST /api/chat is same-origin only; other sites embed the widget instead")
    body = await read_body(request, ChatRequest, services.settings.max_body_bytes)
    text = _check_length(body.message, services)
    business_id = body.tenant_business_id
    tenant = await get_tenant_by_business_id(services.engine, business_id)
    if tenant is None or tenant.disabled:
        raise TenantNotFound(f"no tenant with business_id {business_id!r}")
    token, visitor_id = _visitor(services, request.cookies.get(VISITOR_COOKIE))
    session_id = bound_session_id(services.settings.secret_key, tenant.id, visitor_id, body.session_id)
    await _limit(services, request, (services.settings.rate_limit_session, "session", session_id))
    response = await _answer(
        request,
        services,
        tenant,
        session_id,
        body.session_id,
        text,
        {},
        {},
        ChatReply,
        body.handoff,
        body.email,
        body.language,
        body.time_zone,
        body.page,
    )
    secure = (services.settings.public_url or "").startswith("https://") or request.url.scheme == "https"
    response.set_cookie(
        VISITOR_COOKIE, token, max_age=365 * 86400, httponly=True, samesite="lax", secure=secure, path="/api/chat"
    )
    return response


def _cors_headers(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Vary": "Origin",
        "Access-Control-Expose-Headers": "Retry-After",
    }


async def widget_preflight(request: Request) -> Response:
    services: Services = request.state.services
    origin = _origin(request)
    # A preflight carries no key, so it is answered for an origin that some active key allows.
    if origin is None or origin in ("null", "invalid") or not await services.widget_origins.allowed(origin):
        return error_response(403, "origin_not_allowed", "this origin is not allowed for any widget key")
    return Response(
        status_code=204,
        headers={
            **_cors_headers(origin),
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type, X-Widget-Key, X-Visitor-Token",
            "Access-Control-Max-Age": "600",
        },
    )


async def widget_chat(request: Request) -> Response:
    services: Services = request.state.services
    presented = request.headers.get("x-widget-key", "")
    try:
        key: WidgetKey | None = await get_widget_key(services.engine, presented) if presented else None
    except UNREACHABLE:
        # Readable by the widget's page (CORS), so it waits and retries instead of giving up on a 500.
        origin = _origin(request)
        cors = _cors_headers(origin) if origin not in (None, "null", "invalid") else {}
        retry = {**cors, "Retry-After": "1"}
        raise Unavailable("the hub cannot reach its database; retry shortly", headers=retry) from None
    if key is None or key.revoked:
        raise Unauthenticated("a valid X-Widget-Key header is required (missing, unknown or revoked key)")
    origin = _origin(request)
    if origin is None or origin in ("null", "invalid") or not origin_matches(origin, key.origins):
        raise OriginNotAllowed("the Origin is not allowed for this widget key")
    headers = _cors_headers(origin)
    try:
        body = await read_body(request, WidgetChatRequest, services.settings.max_body_bytes)
        text, client_session_id = _check_length(body.message, services), body.session_id
        tenant = await services.tenants.get(key.tenant_id)
        if tenant is None or tenant.disabled:
            raise TenantNotFound("the widget key's tenant is disabled")
        token, visitor_id = _visitor(services, request.headers.get(VISITOR_HEADER))
        session_id = bound_session_id(services.settings.secret_key, tenant.id, visitor_id, client_session_id)
        await _limit(
            services,
            request,
            (services.settings.rate_limit_key, "key", key.key),
            (services.settings.rate_limit_session, "session", session_id),
        )
        extra = {"visitor_token": token}
        # Also a header: the answer's first bytes, so a streamed answer cut before its last event (``done``, which
        # carries it too) still leaves the page its visitor.
        headers = {**headers, VISITOR_HEADER: token, "Access-Control-Expose-Headers": EXPOSED_WITH_TOKEN}
        return await _answer(
            request,
            services,
            tenant,
            session_id,
            client_session_id,
            text,
            extra,
            headers,
            WidgetChatReply,
            body.handoff,
            body.email,
            body.language,
            body.time_zone,
            body.page,
        )
    except HubError as exc:
        # Errors after the origin check carry CORS headers, so the page's script can read them.
        exc.headers = {**(exc.headers or {}), **headers}
        raise


async def _app_principal(request: Request, services: Services) -> Principal:
    principal = await optional_principal(request, services.engine, request.method)
    if principal is None:
        raise Unauthenticated(ANONYMOUS_APP_CALL)
    if CHAT_MANAGE not in principal.permissions:
        raise Forbidden("this account lacks the chat.manage permission")
    return principal


async def app_session(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _app_principal(request, services)
    body = await read_body(request, AppSessionRequest, services.settings.max_body_bytes, optional=True)
    tenant = await services.accounts.acting_tenant(principal, body.business_id, CHAT_MANAGE)
    session_id = new_session_id()
    await services.conversations.open_session(tenant.id, session_id)
    answer = AppSession(
        session_id=session_id,
        tenant_id=tenant.id,
        business_id=tenant.business_id,
        resume_token=resume_token(services.settings.secret_key, tenant.id, session_id),
    )
    return StructResponse(answer, status_code=201)


async def app_message(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _app_principal(request, services)
    body = await read_body(request, AppMessageRequest, services.settings.max_body_bytes)
    text = _check_length(body.message, services)
    tenant = await services.accounts.acting_tenant(principal, body.business_id, CHAT_MANAGE)
    # The same rules as the agent socket: unknown sessions are 404, another agent's human-mode session is 409.
    agent = Agent(principal.user_id, principal.name, principal.email)
    result = await services.control.agent_message(tenant, body.session_id, agent, text)
    frame = msgspec.to_builtins(message_frame(result.message))
    fields = {"session_id": body.session_id, "seq": result.message.seq, "message": frame, "mode": result.mode}
    answer = msgspec.convert(fields, AppMessage)
    if _wants_stream(request):
        # Nothing streams after an agent's line (the AI does not answer agents); the same two events keep
        # SSE clients on one code path for all three endpoints.
        events = sse_event("message", frame) + sse_event("done", msgspec.to_builtins(answer))
        return Response(events, media_type="text/event-stream", headers={"Cache-Control": "no-store"})
    return StructResponse(answer)


async def app_history(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _app_principal(request, services)
    query = read_query(request, HistoryQuery)
    tenant = await services.accounts.acting_tenant(principal, query.business_id, CHAT_MANAGE)
    session_id = read_path(request, HistoryPath).session_id
    state = await get_session(services.engine, tenant.id, session_id)
    if state is None:
        raise SessionNotFound("no such session in this tenant")
    history = await messages_after(services.engine, tenant.id, session_id, query.after_seq)
    fields = {
        "session_id": session_id,
        "seq": state.last_seq,
        "mode": state.mode,
        "messages": [message_frame(message) for message in history],
    }
    answer = msgspec.convert(fields, History, from_attributes=True)
    return StructResponse(answer)


async def app_visitor_context(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _app_principal(request, services)
    query = read_query(request, ManagedQuery)
    tenant = await services.accounts.acting_tenant(principal, query.business_id, CHAT_MANAGE)
    session_id = read_path(request, HistoryPath).session_id
    context = await services.visits.context(tenant.id, session_id)
    if context is None:
        raise SessionNotFound("no such session in this tenant")
    answer = VisitorContextAnswer(session_id=session_id, context=context)
    return StructResponse(answer, headers={"Cache-Control": "no-store"})
