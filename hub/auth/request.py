"""Finding the caller of an HTTP request: ``Authorization: Bearer`` or the session cookie + CSRF."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import HTTPConnection

from hub.auth.permissions import Principal
from hub.auth.tokens import check_token
from hub.errors import Forbidden, Unauthenticated

SESSION_COOKIE = "bob_session"
CSRF_COOKIE = "bob_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def presented_token(connection: HTTPConnection) -> tuple[str, str] | None:
    """The token and how it came (``bearer`` or ``cookie``), without checking it."""
    authorization = connection.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "bearer"
    cookie = connection.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie, "cookie"
    return None


async def optional_principal(connection: HTTPConnection, engine: AsyncEngine, method: str = "GET") -> Principal | None:
    presented = presented_token(connection)
    if presented is None:
        return None
    token, via = presented
    checked = await check_token(engine, token, via)
    if checked is None:
        raise Unauthenticated("the login token is unknown, expired or revoked; log in again")
    if via == "cookie" and method not in SAFE_METHODS and not checked.csrf_ok(connection.headers.get(CSRF_HEADER)):
        raise Forbidden("a cookie session needs the X-CSRF-Token header it got at login")
    return checked.principal


async def require_principal(connection: HTTPConnection, engine: AsyncEngine, method: str = "GET") -> Principal:
    principal = await optional_principal(connection, engine, method)
    if principal is None:
        raise Unauthenticated("log in first (POST /api/auth/login) and send the token as Authorization: Bearer")
    return principal
