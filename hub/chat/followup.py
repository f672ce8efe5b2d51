"""Email continuity: a visitor who left an email address hears agent replies written while they are away.

An agent's message to a session whose visitor has no socket on any node marks the session due for an
email at the end of the reply burst (``HUB_MAIL_DEBOUNCE_S`` after the latest reply: a sorted set in the
coordinator, so a burst of five replies makes one email). Every node's supervised sender takes due
sessions with ``take_lapsed``, which hands each to exactly one node; the store's ``emailed_seq`` is then
moved by compare-and-set before sending, so even a session scheduled twice is emailed once. Sending is
bounded in time and retried with a backoff; a send that fails for good gives the replies back, and the
next reply tries again. Nothing here runs on a chat frame's path.

The email holds the replies and a link to ``/chat/continue/{token}``: a signed token that expires, naming
the tenant and session, to a hub page that loads the tenant's widget and resumes the whole conversation.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.chat.presence import Presence
from hub.coord.base import Coordinator
from hub.errors import Conflict, HubError, SessionNotFound
from hub.i18n import supported, translations
from hub.keys import Keys
from hub.mail.base import Email, Mailer, MailError, checked_address
from hub.store.contacts import move_emailed, newest_agent_seq, set_visitor_email, unsent_agent_replies, visitor_contact
from hub.store.models import Tenant
from hub.store.users import list_staff
from hub.store.writer import MessageWriter
from hub.supervise import woken

logger = logging.getLogger(__name__)

CONTINUE_TTL_S = 30 * 86400  # a link in an email opens the conversation for this long
SEND_ATTEMPTS = 3
SEND_TIMEOUT_S = 20.0
POLL_S = 1.0


class InvalidEmail(HubError):
    code = "invalid_email"
    status = 400


class EmailUnavailable(Conflict):
    code = "email_unavailable"


def continue_token(secret_key: str, tenant_id: str, session_id: str, expires_at: int) -> str:
    """``tenant.session.expiry.signature``, all URL-safe; checked by any node without a lookup."""
    body = f"{tenant_id}.{session_id}.{expires_at}"
    return f"{body}.{_sign(secret_key, body)}"


def check_continue_token(secret_key: str, token: str, now: float) -> tuple[str, str] | None:
    """``(tenant_id, session_id)`` of a genuine token that has not expired."""
    parts = token.split(".")
    if len(token) > 300 or len(parts) != 4 or not parts[2].isdigit():
        return None
    tenant_id, session_id, expires, signature = parts
    if not hmac.compare_digest(_sign(secret_key, f"{tenant_id}.{session_id}.{expires}"), signature):
        return None
    if int(expires) < now:
        return None
    return tenant_id, session_id


def _sign(secret_key: str, body: str) -> str:
    digest = hmac.new(secret_key.encode(), f"continue:{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Followups:
    def __init__(
        self,
        engine: AsyncEngine,
        writer: MessageWriter,
        mailer: Mailer | None,
        coord: Coordinator,
        keys: Keys,
        presence: Presence,
        tenants: Callable[[str], Awaitable[Tenant | None]],
        *,
        secret_key: str,
        public_url: str | None,
        debounce_s: float,
    ) -> None:
        self.engine = engine
        self.writer = writer
        self.mailer = mailer
        self.coord = coord
        self.keys = keys
        self.presence = presence
        self.tenants = tenants
        self.secret_key = secret_key
        self.public_url = public_url
        self.debounce_s = debounce_s
        self._replied: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        # Links are built on HUB_PUBLIC_URL (required with SMTP), never on a request's Host header, which a
        # client chooses: an email must not point where a forged header says.
        self.base_url = public_url or ""

    @property
    def offered(self) -> bool:
        """No mailer, no offer: a visitor is never asked for an address no email will reach."""
        return self.mailer is not None

    async def leave_email(self, tenant: Tenant, session_id: str, address: str, language: str | None) -> str:
        if self.mailer is None:
            raise EmailUnavailable("this hub sends no email: leaving an address is not offered")
        try:
            email = checked_address(address)
        except ValueError as exc:
            raise InvalidEmail(f"not an email address: {exc}") from None
        await self.writer.ensure_session(tenant.id, session_id)  # it may come before any message
        if not await set_visitor_email(self.engine, tenant.id, session_id, email, supported(language) or "en"):
            raise SessionNotFound("no such session")
        return email

    def agent_replied(self, tenant_id: str, session_id: str) -> None:
        """An agent's message was stored: noted here only (the agent's path waits for nothing); ``run`` marks
        the session due for an email at the end of the burst if its visitor is away."""
        if self.mailer is not None:
            self._replied.add((tenant_id, session_id))
            self._wake.set()

    async def _schedule(self) -> None:
        replied, self._replied = self._replied, set()
        for tenant_id, session_id in replied:
            try:
                if session_id in await self.presence.online(tenant_id):
                    continue  # the visitor reads it live
                member = f"{tenant_id} {session_id}"
                await self.coord.expiring_touch(self.keys.mail_due(), [member], self.debounce_s, prune=False)
            except Exception as exc:  # the reply is stored and was sent live; only its email is lost
                logger.warning("scheduling the email of a reply failed: %s", exc)

    async def run(self) -> None:
        """Supervised: mark the sessions replied to, take those whose burst ended (each goes to one node on
        any node) and email them."""
        while True:
            await woken(self._wake, POLL_S)
            self._wake.clear()
            if self.mailer is None:
                continue
            await self._schedule()
            try:
                due = await self.coord.take_lapsed(self.keys.mail_due())
            except Exception as exc:
                logger.warning("reading the emails due failed: %s", exc)
                continue
            for member in due:
                tenant_id, _, session_id = member.partition(" ")
                try:
                    await self.send_replies(tenant_id, session_id)
                except Exception:
                    logger.exception("emailing the replies of session %s failed", session_id)

    async def send_replies(self, tenant_id: str, session_id: str) -> bool:
        """Email the agent replies not emailed yet, unless the visitor is back; True when an email went out."""
        if self.mailer is None or session_id in await self.presence.online(tenant_id):
            return False
        contact = await visitor_contact(self.engine, tenant_id, session_id)
        tenant = await self.tenants(tenant_id)
        if contact is None or tenant is None:
            return False
        newest = await newest_agent_seq(self.engine, tenant_id, session_id)
        if newest <= contact.emailed_seq:
            return False
        if not await move_emailed(self.engine, tenant_id, session_id, contact.emailed_seq, newest):
            return False  # another node is sending them
        try:
            replies = await unsent_agent_replies(self.engine, tenant_id, session_id, contact.emailed_seq)
            await self.send(self.reply_email(tenant, session_id, contact.email, contact.language, replies))
        except BaseException as exc:  # not sent (refused, or this node stopping): the next burst carries them
            await asyncio.shield(move_emailed(self.engine, tenant_id, session_id, newest, contact.emailed_seq))
            if not isinstance(exc, MailError):
                raise
            logger.warning("the reply email of session %s was not sent: %s", session_id, exc)
            return False
        return True

    async def send(self, email: Email) -> None:
        """Bounded and retried: up to ``SEND_ATTEMPTS`` tries of ``SEND_TIMEOUT_S`` each, 1 s then 2 s apart."""
        assert self.mailer is not None
        for attempt in range(SEND_ATTEMPTS):
            try:
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await self.mailer.send(email)
                return
            except (MailError, TimeoutError) as exc:
                if attempt == SEND_ATTEMPTS - 1:
                    raise MailError(str(exc) or type(exc).__name__) from exc
                await asyncio.sleep(2**attempt)

    def continue_url(self, tenant_id: str, session_id: str) -> str:
        token = continue_token(self.secret_key, tenant_id, session_id, int(time.time()) + CONTINUE_TTL_S)
        return f"{self.base_url}/chat/continue/{token}"

    def reply_email(self, tenant: Tenant, session_id: str, to: str, language: str, replies: list[str]) -> Email:
        _ = translations(language).gettext
        business = tenant.name
        quoted = "\n\n".join(replies)
        text = "\n\n".join(
            (
                _("%(business)s replied to your chat:") % {"business": business},
                quoted,
                _("Continue the conversation: %(link)s") % {"link": self.continue_url(tenant.id, session_id)},
                _("You get this email because you left this address in the chat with %(business)s.")
                % {"business": business},
            )
        )
        return Email(to=to, subject=_("A reply from %(business)s") % {"business": business}, text=text + "\n")

    async def email_owners(self, tenant_id: str, subject: str, text: str) -> int:
        """Email every active owner of the tenant (escalations); how many were sent. No mailer: 0."""
        if self.mailer is None:
            return 0
        owners = [
            user for user in await list_staff(self.engine, tenant_id) if user.role == "owner" and not user.disabled
        ]
        sent = 0
        for owner in owners:
            try:
                await self.send(Email(to=owner.email, subject=subject, text=text))
                sent += 1
            except MailError as exc:
                logger.warning("emailing owner %s of tenant %s failed: %s", owner.id, tenant_id, exc)
        return sent
