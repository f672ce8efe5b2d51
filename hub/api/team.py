"""``/api/invites`` and ``/api/users/{user_id}/…``: invitations to the team, deactivating and reactivating a
teammate, a password link for one (owners and admins: ``users.manage``); accepting an invitation (public: the
link's token is the credential)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from hub.accounts import AccountDeactivated
from hub.api.accounts import ACCOUNT_BODY_BYTES, StaffUser
from hub.api.auth import check_link_rate, logged_in
from hub.api.bodies import StructResponse, read_body, read_path
from hub.api.models import Email, LinkToken, NewPassword, PathId, PersonName, Timestamp
from hub.api.tenancy import managed_by
from hub.auth.permissions import USERS_MANAGE
from hub.node import Services
from hub.pages import public_base, request_language
from hub.store.invites import Invite
from hub.team import Delivery, OwnAccount

NO_STORE = {"Cache-Control": "no-store"}


class InviteRequest(msgspec.Struct, kw_only=True):
    """A person to invite to the team."""

    email: Email
    name: PersonName | None = None
    role: Literal["agent", "owner"] = "agent"


class InviteOut(msgspec.Struct, kw_only=True):
    id: str
    email: str
    name: str
    role: Literal["agent", "owner"]
    created_at: Timestamp
    expires_at: Timestamp
    emailed_at: Annotated[Timestamp | None, Meta(description="When its link was last emailed; null: handed over.")]

    @classmethod
    def of(cls, invite: Invite) -> InviteOut:
        return msgspec.convert(
            {
                "id": invite.id,
                "email": invite.email,
                "name": invite.name,
                "role": invite.role,
                "created_at": invite.created_at.isoformat(),
                "expires_at": invite.expires_at.isoformat(),
                "emailed_at": invite.sent_at.isoformat() if invite.sent_at else None,
            },
            cls,
        )


class InviteSent(msgspec.Struct, kw_only=True):
    invite: InviteOut
    emailed: Annotated[bool, Meta(description="The link went to the invitee by email (the hub has SMTP).")]
    link: Annotated[
        str | None,
        Meta(description="When not emailed (no SMTP, or the email failed): the one-time link to pass on yourself."),
    ]


class InviteList(msgspec.Struct, kw_only=True):
    invites: Annotated[list[InviteOut], Meta(description="Neither accepted nor revoked, newest first.")]
    emails: Annotated[bool, Meta(description="Whether this hub emails invitations (else: links to pass on).")]


class InvitePath(msgspec.Struct):
    invite_id: PathId


class UserPath(msgspec.Struct):
    user_id: PathId


class AcceptRequest(msgspec.Struct, kw_only=True):
    """An invitation's token (the last part of `/invite/{token}`), the password chosen, the name if changed."""

    token: LinkToken
    password: NewPassword
    name: PersonName | None = None


class LinkSent(msgspec.Struct, kw_only=True):
    emailed: bool
    link: Annotated[str | None, Meta(description="When not emailed: the one-time link to pass on yourself.")]


def _sent(invite: Invite, delivery: Delivery) -> InviteSent:
    return InviteSent(invite=InviteOut.of(invite), emailed=delivery.emailed, link=delivery.link)


async def list_invites(request: Request) -> Response:
    services: Services = request.state.services
    _, tenant = await managed_by(request, services, USERS_MANAGE)
    found = await services.team.invites(tenant)
    return StructResponse(
        InviteList(invites=[InviteOut.of(i) for i in found], emails=services.team.emails), headers=NO_STORE
    )


async def invite(request: Request) -> Response:
    """A one-time link to join the team, emailed (or handed to the caller without SMTP); it holds a seat."""
    services: Services = request.state.services
    principal, tenant = await managed_by(request, services, USERS_MANAGE)
    body = await read_body(request, InviteRequest, ACCOUNT_BODY_BYTES)
    made, delivery = await services.team.invite(
        tenant,
        principal,
        email=body.email,
        name=body.name or "",
        role=body.role,
        base_url=public_base(request, services),
        language=request_language(request),
    )
    return StructResponse(_sent(made, delivery), status_code=201, headers=NO_STORE)


async def resend(request: Request) -> Response:
    services: Services = request.state.services
    principal, tenant = await managed_by(request, services, USERS_MANAGE)
    invite_id = read_path(request, InvitePath).invite_id
    made, delivery = await services.team.resend(
        tenant, principal, invite_id, base_url=public_base(request, services), language=request_language(request)
    )
    return StructResponse(_sent(made, delivery), headers=NO_STORE)


async def revoke(request: Request) -> Response:
    services: Services = request.state.services
    _, tenant = await managed_by(request, services, USERS_MANAGE)
    await services.team.revoke(tenant, read_path(request, InvitePath).invite_id)
    return Response(status_code=204)


async def accept(request: Request) -> Response:
    """The invitee sets their password: the account is made and logged in (token and cookies, as a login)."""
    services: Services = request.state.services
    await check_link_rate(request, services)
    body = await read_body(request, AcceptRequest, ACCOUNT_BODY_BYTES)
    user, issued = await services.team.accept(body.token, password=body.password, name=body.name)
    return logged_in(request, services, user, issued)


async def deactivate(request: Request) -> Response:
    """Logins end at once on every node, the seat is free, taken-over conversations go back to the queue."""
    services: Services = request.state.services
    principal, tenant = await managed_by(request, services, USERS_MANAGE)
    user = await services.team.deactivate(tenant, principal, read_path(request, UserPath).user_id)
    return StructResponse(StaffUser.of(user), headers=NO_STORE)


async def reactivate(request: Request) -> Response:
    services: Services = request.state.services
    principal, tenant = await managed_by(request, services, USERS_MANAGE)
    user = await services.team.reactivate(tenant, principal, read_path(request, UserPath).user_id)
    return StructResponse(StaffUser.of(user), headers=NO_STORE)


async def password_link(request: Request) -> Response:
    """A one-time link for a teammate to set a new password: emailed to them, or handed to the caller."""
    services: Services = request.state.services
    principal, tenant = await managed_by(request, services, USERS_MANAGE)
    user = await services.team.teammate(tenant, principal, read_path(request, UserPath).user_id)
    if user.id == principal.user_id:
        raise OwnAccount("for your own password, use “Forgot your password?” on the login page")
    if user.disabled:
        raise AccountDeactivated("this account is deactivated: reactivate it first")
    delivery = await services.resets.link_for(user, public_base(request, services), request_language(request))
    return StructResponse(LinkSent(emailed=delivery.emailed, link=delivery.link), headers=NO_STORE)
