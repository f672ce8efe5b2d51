"""``/api/auth/*`` and ``/api/customers/auth/*``: log in, log out, who am I."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

import msgspec
from limits import parse
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse, read_body
from hub.api.models import Email, LinkToken, NewPassword, PersonName, Timestamp
from hub.auth.permissions import Principal, home_of
from hub.auth.request import CSRF_COOKIE, SESSION_COOKIE, presented_token, require_principal
from hub.auth.tokens import TOKEN_TTL, IssuedToken, issue_token, revoke_token
from hub.errors import RateLimited, Unauthenticated
from hub.node import Services
from hub.pages import request_language
from hub.store.users import User

LOGIN_BODY_BYTES = 4096


class LoginRequest(msgspec.Struct):
    """Email and password of a staff or customer account."""

    email: Email
    password: Annotated[str, Meta(min_length=1, max_length=1024)]


class Account(msgspec.Struct, kw_only=True):
    """Who a token belongs to."""

    id: str
    email: str
    name: str
    kind: Literal["staff", "customer"]
    role: Annotated[str, Meta(description="agent, owner, admin (staff) or customer.")]
    tenant_id: str
    business_id: str
    permissions: Annotated[list[str], Meta(description="e.g. chat.manage")]
    platform_admin: bool

    @classmethod
    def of(cls, principal: Principal) -> Account:
        return cls(
            id=principal.user_id,
            email=principal.email,
            name=principal.name,
            kind="customer" if principal.kind == "customer" else "staff",
            role=principal.role,
            tenant_id=principal.tenant_id,
            business_id=principal.business_id,
            permissions=sorted(principal.permissions),
            platform_admin=principal.is_platform_admin,
        )


class LoginResponse(msgspec.Struct, kw_only=True):
    token: Annotated[str, Meta(description="Send as `Authorization: Bearer <token>`.")]
    token_type: Literal["Bearer"] = "Bearer"
    expires_at: Timestamp
    csrf_token: Annotated[
        str, Meta(description="Send as `X-CSRF-Token` on unsafe requests that authenticate with the cookie.")
    ]
    user: Account
    home: Annotated[
        str, Meta(description="The page this person lands on: the first their role may use, e.g. `/mission-control`.")
    ]


class ProfileChange(msgspec.Struct, kw_only=True):
    """What a staff member may change of their own account."""

    name: Annotated[PersonName, Meta(min_length=1)]


PROFILE_BODY_BYTES = 4096


def _secure_cookies(request: Request, services: Services) -> bool:
    public = services.settings.public_url or ""
    return public.startswith("https://") or request.url.scheme == "https"


async def _login(request: Request, kind: str) -> Response:
    services: Services = request.state.services
    body = await read_body(request, LoginRequest, LOGIN_BODY_BYTES)
    user = await authenticate(request, services, kind, body.email, body.password)
    return logged_in(request, services, user, await issue_token(services.engine, user))


async def authenticate(request: Request, services: Services, kind: str, email: str, password: str) -> User:
    """The account these credentials open, with failed tries throttled per email and address (the API's login
    and the login page's own form)."""
    email = email.strip().lower()
    address = client_address(request)
    wait = await services.throttle.retry_after(email, address)
    if wait is not None:
        raise RateLimited(f"too many failed logins; try again in {wait} s", wait)
    user = await services.accounts.authenticate(kind, email, password)
    if user is None:
        await services.throttle.failed(email, address)
        raise Unauthenticated("wrong email or password")
    return user


def logged_in(request: Request, services: Services, user: User, issued: IssuedToken) -> Response:
    """The answer of a login (a password, an accepted invitation, a new password): the token and the cookies."""
    principal = Principal(
        user.id, user.tenant_id, user.business_id, user.kind, user.role, user.email, user.name, "bearer"
    )
    answer = LoginResponse(
        token=issued.token,
        expires_at=issued.expires_at.isoformat(),
        csrf_token=issued.csrf_token,
        user=Account.of(principal),
        home=home_of(principal),
    )
    response = StructResponse(answer, headers={"Cache-Control": "no-store"})
    set_login_cookies(response, request, services, issued)
    return response


def set_login_cookies(response: Response, request: Request, services: Services, issued: IssuedToken) -> None:
    """The session cookie (script-proof) and the CSRF cookie the pages' own scripts send back as a header."""
    secure = _secure_cookies(request, services)
    max_age = int(TOKEN_TTL.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, issued.token, max_age=max_age, httponly=True, samesite="strict", secure=secure, path="/"
    )
    # Readable by the app's own scripts (double-submit); useless to another site, which cannot read it.
    response.set_cookie(CSRF_COOKIE, issued.csrf_token, max_age=max_age, samesite="strict", secure=secure, path="/")


async def staff_login(request: Request) -> Response:
    return await _login(request, "staff")


async def customer_login(request: Request) -> Response:
    return await _login(request, "customer")


async def logout(request: Request) -> Response:
    services: Services = request.state.services
    await require_principal(request, services.engine, request.method)
    presented = presented_token(request)
    assert presented is not None
    await revoke_token(services.engine, presented[0])
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


async def me(request: Request) -> Response:
    services: Services = request.state.services
    principal = await require_principal(request, services.engine, request.method)
    return StructResponse(Account.of(principal), headers={"Cache-Control": "no-store"})


async def change_me(request: Request) -> Response:
    """A staff member renames themself: visitors see the new name from their next message on."""
    services: Services = request.state.services
    principal = await require_principal(request, services.engine, request.method)
    body = await read_body(request, ProfileChange, PROFILE_BODY_BYTES)
    name = await services.accounts.rename(principal, body.name)
    services.conversations.staff_renamed(principal.tenant_id, principal.user_id, name)
    return StructResponse(Account.of(dataclasses.replace(principal, name=name)), headers={"Cache-Control": "no-store"})


class ResetRequest(msgspec.Struct):
    """The email of the staff account whose password was forgotten."""

    email: Email


class ResetAsked(msgspec.Struct, kw_only=True):
    message: Annotated[str, Meta(description="The same whether or not an account has this email.")]


class NewPasswordRequest(msgspec.Struct, kw_only=True):
    """The token of a password link (the last part of `/reset-password/{token}`) and the new password."""

    token: LinkToken
    password: NewPassword


RESET_ASKED = "If an active account has this email, a link to a new password is on its way. It works for one hour."
# Using a one-time link: per address, so nobody can try tokens by the thousand (each is 256 random bits anyway).
LINK_USES = parse("30/minute")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def check_link_rate(request: Request, services: Services) -> None:
    wait = await services.throttle.over_limit(LINK_USES, "link", f"address:{client_address(request)}")
    if wait is not None:
        raise RateLimited(f"too many one-time links tried; try again in {wait} s", wait)


async def ask_password_reset(request: Request) -> Response:
    """Forgot your password: a link by email, if an account has this address (the answer never says)."""
    services: Services = request.state.services
    body = await read_body(request, ResetRequest, LOGIN_BODY_BYTES)
    await services.resets.request(body.email, client_address(request), request_language(request))
    return StructResponse(ResetAsked(message=RESET_ASKED), status_code=202, headers={"Cache-Control": "no-store"})


async def reset_password(request: Request) -> Response:
    """A password link used: the new password is set, every other login of the person ends, this one begins."""
    services: Services = request.state.services
    await check_link_rate(request, services)
    body = await read_body(request, NewPasswordRequest, LOGIN_BODY_BYTES)
    user, issued = await services.resets.complete(body.token, body.password)
    return logged_in(request, services, user, issued)
