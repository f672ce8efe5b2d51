"""Alerts that reach people: a push to every subscribed agent when a visitor starts waiting for a person,
and again (with the ``session.handoff_escalated`` webhook) when the wait outgrows the tenant's limit.

Nothing here runs on the chat's path: recording a wait only wakes this node's sweeper. The sweeper
(supervised, one per node) claims what is due with conditional UPDATEs (``hub.store.push``), so of
several nodes exactly one sends each alert and each escalation, and a wait survives any node's restart
in the database. Pushes go out from background tasks through ``PushSender``: encrypted for each browser
(aes128gcm, RFC 8291), signed with the hub's VAPID key (RFC 8292), a bounded number at once, each with a
timeout; a subscription the push service calls gone (404/410) is deleted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import msgspec
from pywebpush import WebPushException, webpush_async

from hub.i18n import DEFAULT_LANGUAGE, LANGUAGES, translations
from hub.push.vapid import load_private_key, public_key, signer
from hub.settings import Settings
from hub.store.models import Tenant
from hub.store.push import (
    Subscription,
    WaitAlert,
    claim_alert,
    claim_escalation,
    due_escalations,
    forget_subscription,
    tenant_subscriptions,
    unalerted,
    user_subscriptions,
)
from hub.supervise import woken
from hub.tenant_settings import settings_of
from hub.webhooks.guard import PrivateAddressRefused, PublicOnlyResolver
from hub.webhooks.outbox import Webhooks

logger = logging.getLogger(__name__)

USER_AGENT = "Bob-hub-push/1"
MISSION_CONTROL = "/mission-control"
TenantLookup = Callable[[str], Awaitable[Tenant | None]]
_encoder = msgspec.json.Encoder()


def conversation_link(session_id: str) -> str:
    """Mission Control, opened on the conversation (static/push.js reads the fragment)."""
    return f"{MISSION_CONTROL}#session={session_id}"


def alert_payload(alert: WaitAlert, language: str, *, escalated: bool, now: datetime) -> dict[str, Any]:
    """What the service worker shows (static/sw.js), in the language the agent's Mission Control had."""
    _ = translations(language if language in LANGUAGES else DEFAULT_LANGUAGE).gettext
    minutes = max(1, int((now - alert.requested_at).total_seconds() // 60))
    if escalated:
        title = _("A visitor is still waiting for a person (%(minutes)s min)") % {"minutes": minutes}
    else:
        title = _("A visitor is waiting for a person")
    reasons = {
        "visitor": _("They asked for a person."),
        "ai": _("Bob handed the conversation over."),
        "credits": _("The AI credits ran out."),
        "agent_left": _("The agent who had the conversation left the team."),
    }
    body = reasons.get(alert.reason, "")
    if alert.note:
        body = f"{body} “{alert.note}”".strip()
    return {
        "type": "handoff_escalated" if escalated else "handoff_requested",
        "title": title,
        "body": body,
        "url": conversation_link(alert.session_id),
        "session_id": alert.session_id,
        "reason": alert.reason,
        "tag": f"handoff-{alert.session_id}",
        "waiting_since": alert.requested_at.isoformat(),
    }


EmailOwners = Callable[[str, str, str], Awaitable[int]]  # tenant id, subject, text -> emails sent


def escalation_email(tenant: Tenant | None, alert: WaitAlert, waited_s: int, public_url: str | None) -> tuple[str, str]:
    """The owners' email when a visitor still waits for a person: subject and text (English, like the
    webhooks: owners read it in their mail, not in a page with a language switch)."""
    business = tenant.name if tenant is not None else alert.tenant_id
    minutes = max(1, round(waited_s / 60))
    subject = f"A visitor of {business} has waited {minutes} min for a person"
    link = f"{public_url or ''}/mission-control#session={alert.session_id}"
    lines = [
        f"A visitor asked for a person {minutes} min ago and nobody has taken the conversation yet.",
        f"Why: {alert.reason}" + (f" ({alert.note})" if alert.note else ""),
        f"Take it in Mission Control: {link}",
        "",
        "You get this email because you own this business's account on Bob; every agent with push alerts on was "
        "alerted again too.",
    ]
    return subject, "\n".join(lines) + "\n"


class PushSender:
    """Web Push out of this node: encrypted, VAPID-signed, at most ``concurrency`` at once, each bounded."""

    timeout_s = 10.0
    concurrency = 16
    ttl_s = 600  # a push the phone cannot take within 10 minutes is no alert any more
    per_alert = 500  # subscriptions one alert goes to, at most

    def __init__(self, settings: Settings, engine: Any) -> None:
        self.engine = engine
        self.subject = settings.vapid_subject or ""
        self.allow_private = settings.push_allow_private
        key = load_private_key(settings.vapid_private_key) if settings.vapid_private_key else None
        self.public_key = public_key(key) if key is not None else None
        self._vapid = signer(key) if key is not None else None
        self._slots = asyncio.Semaphore(self.concurrency)
        self._session: aiohttp.ClientSession | None = None

    @property
    def offered(self) -> bool:
        return self._vapid is not None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # A push endpoint is any URL an agent's browser sent: the same SSRF guard as webhooks.
            connector = aiohttp.TCPConnector(
                limit=self.concurrency, resolver=None if self.allow_private else PublicOnlyResolver()
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                headers={"User-Agent": USER_AGENT},
            )
        return self._session

    async def tenant(self, tenant_id: str, payload: Callable[[Subscription], dict[str, Any]]) -> int:
        """Push to every subscribed agent of the tenant; how many pushes the push services accepted."""
        if not self.offered:
            return 0
        subscriptions = await tenant_subscriptions(self.engine, tenant_id, self.per_alert)
        sent = await asyncio.gather(*(self.send(found, payload(found)) for found in subscriptions))
        return sum(sent)

    async def person(self, tenant_id: str, user_id: str, payload: Callable[[Subscription], dict[str, Any]]) -> int:
        """Push to every subscribed device of one staff member of the tenant; how many pushes were accepted."""
        if not self.offered:
            return 0
        subscriptions = await user_subscriptions(self.engine, tenant_id, user_id, self.per_alert)
        sent = await asyncio.gather(*(self.send(found, payload(found)) for found in subscriptions))
        return sum(sent)

    async def send(self, found: Subscription, payload: dict[str, Any]) -> bool:
        """One push; a subscription the push service no longer knows (404, 410) is deleted."""
        assert self._vapid is not None
        status: int | None = None
        async with self._slots:
            try:
                async with asyncio.timeout(self.timeout_s):
                    await webpush_async(
                        found.info(),
                        _encoder.encode(payload).decode(),
                        vapid_private_key=self._vapid,
                        vapid_claims={"sub": self.subject},
                        ttl=self.ttl_s,
                        headers={"Urgency": "high"},
                        aiohttp_session=self.session,
                        timeout=self.timeout_s,
                    )
                return True
            except WebPushException as exc:
                status = exc.status_code
                error = f"the push service answered HTTP {status}"
            except Exception as exc:  # refused address, timeout, connection refused, TLS: logged, not retried
                cause = exc.__cause__
                error = f"{type(cause if isinstance(cause, PrivateAddressRefused) else exc).__name__}: {exc}"
        if status in (404, 410):
            await forget_subscription(self.engine, found)
            logger.info("push subscription %s of user %s is gone (HTTP %s): deleted", found.id, found.user_id, status)
        else:
            logger.info("push to subscription %s failed: %s", found.id, error[:300])
        return False

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            await asyncio.sleep(0)


class HandoffAlerts:
    """The sweeper: first alerts and escalations of waits for a person, each claimed once over all nodes."""

    poll_s = 1.0
    coalesce_s = 0.2  # a woken sweep waits this long for the wakes that follow
    batch = 50  # waits looked at per query and tick: a bounded query whatever the backlog
    email_timeout_s = 30.0
    max_tasks = 1000  # sends in flight on this node; beyond, the sweeper waits for some to finish

    def __init__(
        self,
        engine: Any,
        push: PushSender,
        webhooks: Webhooks,
        tenants: TenantLookup,
        *,
        email_owners: EmailOwners | None = None,
        public_url: str | None = None,
    ) -> None:
        """``email_owners``: mails the tenant's owners on escalation (``hub.chat.followup``); None: no email."""
        self.engine = engine
        self.push = push
        self.webhooks = webhooks
        self.tenants = tenants
        self.email_owners = email_owners
        self.public_url = public_url
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """A wait was recorded on this node: look now rather than at the next poll (the recorder sends)."""
        self._wake.set()

    async def escalate_at(self, tenant_id: str, since: datetime) -> datetime:
        """When a wait that began at ``since`` is escalated: the tenant's limit in force now."""
        tenant = await self.tenants(tenant_id)
        limit = settings_of(tenant).escalate_after_s if tenant is not None else 120
        return since + timedelta(seconds=limit)

    async def run(self) -> None:
        while True:
            await self.tick()
            if await woken(self._wake, self.poll_s):
                # A burst of requests is one sweep, not a sweep (two queries) each: the wakes of the next
                # moment join this one, and the chat's own queries keep the pool and the loop meanwhile.
                await asyncio.sleep(self.coalesce_s)
            self._wake.clear()

    async def tick(self) -> None:
        """One sweep: claim and start what is due (the sends run on in the background)."""
        while len(self._tasks) >= self.max_tasks:
            await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        if self.push.offered:
            for alert in await unalerted(self.engine, self.batch):
                if await claim_alert(self.engine, alert.handoff_id):
                    self._spawn(self._alert(alert, escalated=False))
        for alert in await due_escalations(self.engine, self.batch):
            now = datetime.now(UTC)
            waited_s = int((now - alert.requested_at).total_seconds())
            data = {
                "session_id": alert.session_id,
                "reason": alert.reason,
                "note": alert.note,
                "waiting_since": alert.requested_at.isoformat(),
                "waited_s": waited_s,
            }
            rows = await self.webhooks.rows(alert.tenant_id, "session.handoff_escalated", data)
            if not await claim_escalation(self.engine, alert.handoff_id, rows):
                continue  # another node escalated it first
            if rows:
                self.webhooks.wake()
            logger.info("visitor %s of tenant %s waited %d s: escalated", alert.session_id, alert.tenant_id, waited_s)
            self._spawn(self._alert(alert, escalated=True))
            self._spawn(self._email(alert, waited_s))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _alert(self, alert: WaitAlert, *, escalated: bool) -> None:
        try:
            now = datetime.now(UTC)
            sent = await self.push.tenant(
                alert.tenant_id,
                lambda found: alert_payload(alert, found.language, escalated=escalated, now=now),
            )
            logger.debug("alert for %s (escalated=%s): %d pushes accepted", alert.session_id, escalated, sent)
        except Exception:
            logger.exception("push alert for session %s failed", alert.session_id)

    async def _email(self, alert: WaitAlert, waited_s: int) -> None:
        try:
            if self.email_owners is None:
                return
            async with asyncio.timeout(self.email_timeout_s):
                tenant = await self.tenants(alert.tenant_id)
                subject, text = escalation_email(tenant, alert, waited_s, self.public_url)
                sent = await self.email_owners(alert.tenant_id, subject, text)
                logger.info("escalation of session %s emailed to %d owners", alert.session_id, sent)
        except Exception:
            logger.exception("escalation email for session %s failed", alert.session_id)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
