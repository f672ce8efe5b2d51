"""A tenant's team: invitations by one-time link, and deactivating or reactivating a teammate.

**Invitations.** An owner or admin names an email, a display name and a role; the hub writes the invitation
with a random token it keeps only as a SHA-256 hash, and emails the link (``/invite/{token}``) when it has
SMTP, else hands it to the inviter to pass on. Live invitations hold a seat of the plan, so the invitee
never finds the team full. The link works once, for ``INVITE_TTL``; a resend replaces the token (the old
link stops working); revoking ends it. Accepting makes the account, with the password the invitee chose,
and logs them in, all in one transaction.

**Deactivating** ends the person's logins at once (``hub.signouts``), frees their seat, and sends the
conversations they had taken over back to the Waiting queue (``SessionControl.release_departed``). The
account and its name stay (past replies carry it); reactivating lets them log in again with their
password, within the seats.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from babel.dates import format_datetime
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.accounts import Accounts, normalise_email
from hub.auth.passwords import MIN_PASSWORD_LENGTH, Passwords
from hub.auth.permissions import Principal
from hub.auth.tokens import IssuedToken, issue_token_on, revoke_user_tokens, token_digest
from hub.chat.control import Agent, SessionControl
from hub.errors import Conflict, Forbidden, InvalidInput, LinkInvalid, NotFound
from hub.i18n import translations
from hub.mail.base import Email, Mailer, MailError
from hub.signouts import SignOuts
from hub.store import invites as store
from hub.store.invites import Invite
from hub.store.models import Tenant
from hub.store.tables import tenants
from hub.store.users import (
    User,
    active_owners,
    check_seats,
    count_seats,
    create_user,
    email_in_use,
    get_user,
    set_disabled,
)

logger = logging.getLogger(__name__)

INVITE_TTL = timedelta(days=7)
INVITE_ROLES = ("agent", "owner")
MAIL_TIMEOUT_S = 15.0  # one attempt, while the inviter waits; a failure hands them the link instead


class EmailTaken(Conflict):
    code = "email_taken"


class AlreadyInvited(Conflict):
    code = "already_invited"


class LastOwner(Conflict):
    code = "last_owner"


class OwnAccount(Conflict):
    code = "own_account"


@dataclass(frozen=True)
class Delivery:
    """How an invitation (or a password link) reached its person: emailed, or ``link`` for the inviter to pass on."""

    emailed: bool
    link: str | None


def new_link_token(prefix: str) -> tuple[str, str]:
    """A one-time link's token and the hash the store keeps of it."""
    token = prefix + secrets.token_urlsafe(32)
    return token, token_digest(token)


async def lock_tenant(connection: AsyncConnection, tenant_id: str) -> None:
    """Team changes of one tenant, one at a time (PostgreSQL; SQLite writes one at a time anyway): seats and
    the last owner are counted and changed in the same transaction."""
    if connection.dialect.name == "postgresql":
        await connection.execute(select(tenants.c.id).where(tenants.c.id == tenant_id).with_for_update())


async def send_once(mailer: Mailer, email: Email) -> None:
    """One bounded attempt (a person waits on it); ``MailError`` when it did not go."""
    try:
        async with asyncio.timeout(MAIL_TIMEOUT_S):
            await mailer.send(email)
    except TimeoutError as exc:
        raise MailError("the SMTP server did not answer in time") from exc


def role_name(role: str, language: str) -> str:
    return str(translations(language).pgettext("role", role))


class Team:
    def __init__(
        self,
        engine: AsyncEngine,
        passwords: Passwords,
        accounts: Accounts,
        signouts: SignOuts,
        control: SessionControl,
        mailer: Mailer | None,
        public_url: str | None,
    ) -> None:
        self._engine = engine
        self._passwords = passwords
        self._accounts = accounts
        self._signouts = signouts
        self._control = control
        self._mailer = mailer
        self._public_url = public_url

    @property
    def emails(self) -> bool:
        """Whether invitations go by email (``HUB_SMTP_URL``), or as links the inviter passes on."""
        return self._mailer is not None

    # --- invitations -----------------------------------------------------------------------------------

    async def invites(self, tenant: Tenant) -> list[Invite]:
        """Neither accepted nor revoked (expired ones too: they can be sent again), newest first."""
        return await store.open_invites(self._engine, tenant.id)

    async def invite(
        self, tenant: Tenant, inviter: Principal, *, email: str, name: str, role: str, base_url: str, language: str
    ) -> tuple[Invite, Delivery]:
        """409 ``email_taken`` (an account has it), ``already_invited`` (a live invitation has it), ``seat_limit``."""
        if role not in INVITE_ROLES:
            raise InvalidInput(f"role must be one of {', '.join(INVITE_ROLES)}")
        email = normalise_email(email)
        name = name.strip() or email.split("@", 1)[0]
        token, token_hash = new_link_token("inv_")
        now = datetime.now(UTC)
        async with self._engine.begin() as connection:
            await lock_tenant(connection, tenant.id)
            if await email_in_use(connection, "staff", email):
                raise EmailTaken(f"{email} already has an account on this hub")
            await store.revoke_expired_for_email(connection, tenant.id, email, now)
            if await store.live_for_email(connection, tenant.id, email, now) is not None:
                raise AlreadyInvited(f"{email} is invited already: send the invitation again, or revoke it")
            await self._check_seats(connection, tenant, now)
            invite = await store.create_invite(
                connection,
                tenant_id=tenant.id,
                email=email,
                name=name,
                role=role,
                invited_by=inviter.user_id,
                token_hash=token_hash,
                now=now,
                expires_at=now + INVITE_TTL,
            )
        return invite, await self._deliver(tenant, inviter, invite, token, base_url, language)

    async def resend(
        self, tenant: Tenant, inviter: Principal, invite_id: str, *, base_url: str, language: str
    ) -> tuple[Invite, Delivery]:
        """A new link (the old one stops working) and a new expiry, sent again."""
        token, token_hash = new_link_token("inv_")
        now = datetime.now(UTC)
        async with self._engine.begin() as connection:
            await lock_tenant(connection, tenant.id)
            invite = await store.get_invite(connection, tenant.id, invite_id)
            if invite is None or not invite.open:
                raise NotFound("no open invitation with this id in this tenant")
            if not invite.live(now):  # an expired one held no seat: it needs a free one again
                await self._check_seats(connection, tenant, now)
            await store.renew_invite(connection, tenant.id, invite_id, token_hash, now + INVITE_TTL)
        invite = dataclasses.replace(invite, expires_at=now + INVITE_TTL, sent_at=None)
        return invite, await self._deliver(tenant, inviter, invite, token, base_url, language)

    async def revoke(self, tenant: Tenant, invite_id: str) -> None:
        async with self._engine.begin() as connection:
            if not await store.revoke_invite(connection, tenant.id, invite_id, datetime.now(UTC)):
                raise NotFound("no open invitation with this id in this tenant")

    async def open_invitation(self, token: str) -> tuple[Invite, Tenant] | None:
        """The live invitation a link names, with its tenant (for the page that opens it), else None."""
        async with self._engine.connect() as connection:
            invite = await store.invite_by_token(connection, token_digest(token))
        if invite is None or not invite.live(datetime.now(UTC)):
            return None
        tenant = await self._accounts.tenant(invite.tenant_id)
        return None if tenant is None else (invite, tenant)

    async def accept(self, token: str, *, password: str, name: str | None) -> tuple[User, IssuedToken]:
        """The invitee's account, made with their password and logged in; 410 ``link_invalid`` once used."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
        password_hash = await self._passwords.hash(password)  # before the transaction: tens of ms of CPU
        now = datetime.now(UTC)
        async with self._engine.begin() as connection:
            invite = await store.invite_by_token(connection, token_digest(token))
            if invite is None or not invite.live(now):
                raise LinkInvalid("this invitation link was used, revoked or has expired; ask for a new one")
            await lock_tenant(connection, invite.tenant_id)
            tenant = await self._accounts.tenant(invite.tenant_id)
            if tenant is None:
                raise LinkInvalid("this invitation's business no longer exists")
            if await email_in_use(connection, "staff", invite.email):
                raise EmailTaken(f"{invite.email} already has an account on this hub; log in instead")
            reserved = await store.count_live(connection, tenant.id, now, besides=invite.id)
            user = await create_user(
                connection,
                tenant_id=tenant.id,
                email=invite.email,
                password_hash=password_hash,
                role=invite.role,
                name=(name or "").strip() or invite.name,
                seats=self._accounts.plan_of(tenant).seats,
                reserved=reserved,
            )
            if not await store.mark_accepted(connection, tenant.id, invite.id, user.id, now):
                raise LinkInvalid("this invitation link was used a moment ago")  # rolls the account back
            issued = await issue_token_on(connection, user)
        return user, issued

    async def _check_seats(self, connection: AsyncConnection, tenant: Tenant, now: datetime) -> None:
        taken = await count_seats(connection, tenant.id) + await store.count_live(connection, tenant.id, now)
        check_seats(taken, self._accounts.plan_of(tenant).seats)

    async def _deliver(
        self, tenant: Tenant, inviter: Principal, invite: Invite, token: str, base_url: str, language: str
    ) -> Delivery:
        """Email the link when the hub has SMTP (built on ``HUB_PUBLIC_URL``); otherwise, or if the email did not
        go, the inviter gets the link to pass on."""
        link = f"{self._public_url or base_url}/invite/{token}"
        if self._mailer is None:
            return Delivery(emailed=False, link=link)
        try:
            await send_once(self._mailer, self.invite_email(tenant, inviter, invite, link, language))
        except MailError as exc:
            logger.warning("the invitation email to %s of tenant %s did not go: %s", invite.id, tenant.id, exc)
            return Delivery(emailed=False, link=link)
        await store.mark_sent(self._engine, tenant.id, invite.id, datetime.now(UTC))
        return Delivery(emailed=True, link=None)

    @staticmethod
    def invite_email(tenant: Tenant, inviter: Principal, invite: Invite, link: str, language: str) -> Email:
        _ = translations(language).gettext
        names = {"inviter": inviter.name or inviter.email, "business": tenant.name}
        until = format_datetime(invite.expires_at, "d MMMM y, HH:mm", tzinfo=UTC, locale=language)
        text = "\n\n".join(
            (
                _("Hello %(name)s,") % {"name": invite.name},
                _("%(inviter)s invited you to the team of %(business)s on Bob, as %(role)s.")
                % {**names, "role": role_name(invite.role, language)},
                _("Choose your password to start: %(link)s") % {"link": link},
                _("The link works once, until %(until)s (UTC).") % {"until": until},
                _("If you did not expect this invitation, ignore this email."),
            )
        )
        subject = _("%(inviter)s invited you to the team of %(business)s") % names
        return Email(to=invite.email, subject=subject, text=text + "\n")

    # --- deactivating and reactivating --------------------------------------------------------------------

    async def deactivate(self, tenant: Tenant, actor: Principal, user_id: str) -> User:
        """End the person's logins everywhere, free their seat, send their conversations back to the queue.

        409 ``own_account`` for the caller's own account, ``last_owner`` for the tenant's last active owner."""
        if user_id == actor.user_id:
            raise OwnAccount("you cannot deactivate your own account; another owner can")
        async with self._engine.begin() as connection:
            await lock_tenant(connection, tenant.id)
            user = await self._teammate(connection, tenant, actor, user_id)
            if user.role == "owner" and not user.disabled and await active_owners(connection, tenant.id) <= 1:
                raise LastOwner("this is the business's last active owner: make another owner first")
            await set_disabled(connection, tenant.id, user.id, True)
            await revoke_user_tokens(connection, user.id)
        self._signouts.announce(tenant.id, user.id, "deactivated")
        released = await self._control.release_departed(tenant, Agent(user.id, user.name, user.email))
        if released:
            logger.info("deactivated %s: %d conversations back in the waiting queue", user.id, len(released))
        return dataclasses.replace(user, disabled=True)

    async def reactivate(self, tenant: Tenant, actor: Principal, user_id: str) -> User:
        """They may log in again with their password; within the seats (409 ``seat_limit``)."""
        async with self._engine.begin() as connection:
            await lock_tenant(connection, tenant.id)
            user = await self._teammate(connection, tenant, actor, user_id)
            if not user.disabled:
                return user
            await self._check_seats(connection, tenant, datetime.now(UTC))
            await set_disabled(connection, tenant.id, user.id, False)
        return dataclasses.replace(user, disabled=False)

    async def teammate(self, tenant: Tenant, actor: Principal, user_id: str) -> User:
        async with self._engine.connect() as connection:
            return await self._teammate(connection, tenant, actor, user_id)

    @staticmethod
    async def _teammate(connection: AsyncConnection, tenant: Tenant, actor: Principal, user_id: str) -> User:
        """A staff account of this tenant the actor may act on: an admin's account only by an admin."""
        user = await get_user(connection, tenant.id, user_id, lock=True)
        if user is None:
            raise NotFound("no staff account with this id in this tenant")
        if user.role == "admin" and actor.role != "admin":
            raise Forbidden("only admins act on an admin's account")
        return user
