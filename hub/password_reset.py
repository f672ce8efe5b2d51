"""Forgotten passwords: a one-time link by email that sets a new password and ends every other login.

Asking answers the same whatever the address (an account or not, active or not): the link is looked up and
emailed in the background, so neither the answer nor its timing says whether the address has an account.
Asking is rate-limited per address and per email (counted for any email, so the limit says nothing either).
The link (``/reset-password/{token}``; the token is random and only its SHA-256 is kept) works once, for
``RESET_TTL``; a newer password makes the person's other links useless. Using it sets the password, revokes
every token of the person but the new login's, and closes their Mission Control sockets on every node.

An owner can also make such a link for a teammate (the Team page): emailed to them, or, on a hub without
SMTP, shown to the owner to pass on.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from limits import parse
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.auth.passwords import MIN_PASSWORD_LENGTH, Passwords
from hub.auth.throttle import Throttle
from hub.auth.tokens import IssuedToken, issue_token_on, revoke_user_tokens, token_digest
from hub.errors import Conflict, InvalidInput, LinkInvalid, RateLimited
from hub.i18n import translations
from hub.mail.base import Email, Mailer, MailError
from hub.signouts import SignOuts
from hub.store.password_resets import create_reset, reset_by_token, use_reset
from hub.store.users import User, find_user, get_user_by_id, set_password_hash
from hub.team import Delivery, new_link_token, send_once

logger = logging.getLogger(__name__)

RESET_TTL = timedelta(hours=1)
PER_EMAIL = parse("3/hour")
PER_ADDRESS = parse("10/hour")
SCOPE = "password_reset"


class MailUnavailable(Conflict):
    """The hub's configuration, not a passing fault: no SMTP (``HUB_SMTP_URL``), so no email can be asked for."""

    code = "mail_unavailable"


class PasswordResets:
    def __init__(
        self,
        engine: AsyncEngine,
        passwords: Passwords,
        signouts: SignOuts,
        throttle: Throttle,
        mailer: Mailer | None,
        public_url: str | None,
    ) -> None:
        self._engine = engine
        self._passwords = passwords
        self._signouts = signouts
        self._throttle = throttle
        self._mailer = mailer
        self._public_url = public_url
        self._sending: set[asyncio.Task[None]] = set()

    @property
    def emails(self) -> bool:
        return self._mailer is not None

    async def request(self, email: str, address: str, language: str) -> None:
        """Email a link if an active staff account has this address; the same answer either way."""
        if self._mailer is None:
            raise MailUnavailable("this hub sends no email: ask an owner of your team for a link to a new password")
        email = email.strip().lower()
        for limit, key in ((PER_ADDRESS, f"address:{address}"), (PER_EMAIL, f"email:{email}")):
            wait = await self._throttle.over_limit(limit, SCOPE, key)
            if wait is not None:
                raise RateLimited(f"too many requests for a new password; try again in {wait} s", wait)
        task = asyncio.create_task(self._email_link(email, language), name="password-reset-email")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _email_link(self, email: str, language: str) -> None:
        try:
            user = await find_user(self._engine, "staff", email)
            if user is None or user.disabled:
                return
            assert self._mailer is not None
            link = await self.new_link(user, self._public_url or "")
            await send_once(self._mailer, self.reset_email(user, link, language))
        except MailError as exc:
            logger.warning("the password reset email did not go: %s", exc)
        except Exception:
            logger.exception("emailing a password reset link failed")

    async def new_link(self, user: User, base_url: str) -> str:
        token, token_hash = new_link_token("pwr_")
        now = datetime.now(UTC)
        await create_reset(
            self._engine,
            user_id=user.id,
            tenant_id=user.tenant_id,
            token_hash=token_hash,
            now=now,
            expires_at=now + RESET_TTL,
        )
        return f"{base_url}/reset-password/{token}"

    async def link_for(self, user: User, base_url: str, language: str) -> Delivery:
        """An owner's link for a teammate: emailed when the hub can, else handed to the owner."""
        link = await self.new_link(user, self._public_url or base_url)
        if self._mailer is None:
            return Delivery(emailed=False, link=link)
        try:
            await send_once(self._mailer, self.reset_email(user, link, language))
        except MailError as exc:
            logger.warning("the password link for %s did not go: %s", user.id, exc)
            return Delivery(emailed=False, link=link)
        return Delivery(emailed=True, link=None)

    async def account_of(self, token: str) -> User | None:
        """The active account a usable link sets the password of (for the page that opens it), else None."""
        async with self._engine.connect() as connection:
            reset = await reset_by_token(connection, token_digest(token))
            if reset is None or not reset.usable(datetime.now(UTC)):
                return None
            user = await get_user_by_id(connection, reset.user_id)
        return None if user is None or user.disabled else user

    async def complete(self, token: str, password: str) -> tuple[User, IssuedToken]:
        """Set the new password, end every other login of the person (on every node), log this browser in."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
        password_hash = await self._passwords.hash(password)
        async with self._engine.begin() as connection:
            user_id = await use_reset(connection, token_digest(token), datetime.now(UTC))
            user = await get_user_by_id(connection, user_id) if user_id is not None else None
            if user is None or user.disabled:
                raise LinkInvalid("this link was used or has expired; ask for a new one")
            await set_password_hash(connection, user.id, password_hash)
            issued = await issue_token_on(connection, user)
            kept = token_digest(issued.token)
            await revoke_user_tokens(connection, user.id, keep=kept)
        self._signouts.announce(user.tenant_id, user.id, "password_reset", keep=kept)
        return user, issued

    @staticmethod
    def reset_email(user: User, link: str, language: str) -> Email:
        _ = translations(language).gettext
        text = "\n\n".join(
            (
                _("Someone, hopefully you, asked for a new password for the Bob account %(email)s.")
                % {"email": user.email},
                _("Choose a new password: %(link)s") % {"link": link},
                _("The link works once, for one hour. A new password logs you out everywhere else."),
                _("If it was not you, ignore this email: your password stays as it is."),
            )
        )
        return Email(to=user.email, subject=_("A new password for Bob"), text=text + "\n")

    async def aclose(self) -> None:
        for task in self._sending:
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)
