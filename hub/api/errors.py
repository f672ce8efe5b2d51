"""The one place where errors become responses: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated

import msgspec
from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse
from hub.errors import HubError

logger = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
}


# What each error status means, for the OpenAPI document: status -> (component name, description).
ERROR_STATUSES: dict[int, tuple[str, str]] = {
    400: (
        "BadRequest",
        "Malformed JSON, a body that is not an object, a missing or ill-typed field, a value outside its stated "
        "limits (the message names the field), or a NUL character in any string.",
    ),
    401: ("Unauthenticated", "No, an unknown, expired or revoked token (or widget key)."),
    403: ("Forbidden", "Not allowed: missing permission, cookie without X-CSRF-Token, or an Origin not allowed."),
    404: ("NotFound", "No such tenant, session or resource (for this caller)."),
    409: (
        "Conflict",
        "Already exists, another agent owns the session, a plan's seats or integrations are all taken, the "
        "pricebook version is already published, the persona is active, a transfer to the conversation's own "
        "assignee, or a limit of labels reached.",
    ),
    410: ("Gone", "A one-time link (an invitation, a password reset) that is unknown, used, revoked or expired."),
    413: ("TooLarge", "The body is larger than its limit, or a chat `message` longer than `HUB_MAX_MESSAGE_CHARS`."),
    415: ("UnsupportedMediaType", "The body is not sent as Content-Type: application/json."),
    422: (
        "Unprocessable",
        "Well-formed, but it names something that cannot be used for this: e.g. a customer or disabled account "
        "as a conversation's assignee (`not_assignable`).",
    ),
    429: ("RateLimited", "Too many requests (per address, per widget key, per session, failed logins)."),
    503: ("Unavailable", "The hub cannot serve this now (e.g. the AI did not answer in time); retry later."),
}


class ErrorDetail(msgspec.Struct):
    code: Annotated[
        str,
        msgspec.Meta(
            description="Stable, machine-readable: e.g. invalid_input, unauthenticated, forbidden, "
            "origin_not_allowed, not_found, unknown_tenant, unknown_session, method_not_allowed, too_large, "
            "unsupported_media_type, rate_limited, seat_limit, email_taken, already_invited, last_owner, own_account, "
            "link_invalid, account_deactivated, mail_unavailable, unavailable, unknown_agent, unknown_label, "
            "not_assignable, already_assigned."
        ),
    ]
    message: Annotated[str, msgspec.Meta(description="For people: what was wrong and what to do.")]


class Error(msgspec.Struct):
    """The one error shape of every HTTP endpoint."""

    error: ErrorDetail


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return StructResponse(Error(ErrorDetail(code, message)), status_code=status, headers=headers)


async def hub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubError)
    if exc.status == 429:
        services = getattr(request.state, "services", None)
        if services is not None:
            services.metrics.http_rate_limited.inc()
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, HTTP_CODES.get(exc.status_code, "error"), str(exc.detail), exc.headers)


# What a database or Redis that is away looks like from here: not a bug, a moment to retry.
UNREACHABLE = (OperationalError, InterfaceError, SQLAlchemyTimeoutError, TimeoutError, ConnectionError, RedisError)


async def server_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, UNREACHABLE):
        logger.warning("%s %s: a service the hub needs is away: %r", request.method, request.url.path, exc)
        return error_response(
            503, "unavailable", "the hub cannot reach its database or Redis; retry shortly", {"Retry-After": "1"}
        )
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal", "the hub failed to handle this request")


EXCEPTION_HANDLERS = {HubError: hub_error, HTTPException: http_error, Exception: server_error}
