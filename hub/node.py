"""Everything one hub node holds while it runs, built in order and closed in reverse.

``Node.open`` builds each part with exactly what it needs, in dependency order, and registers how
to close it on an ``AsyncExitStack``: a step that fails half-way closes what was already opened,
and ``close`` undoes the rest in reverse (background tasks first, the database last).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from prometheus_client import generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub import logs
from hub.accounts import Accounts
from hub.ai import AIProvider, provider_from_settings
from hub.auth.passwords import Passwords
from hub.auth.throttle import Throttle
from hub.backplane import MemoryBackplane
from hub.broker import Broker, broker_from_url
from hub.bundle import BundleCache
from hub.chat.assignment import Assignments
from hub.chat.availability import Availability
from hub.chat.context_retention import ContextRetention
from hub.chat.control import SessionControl
from hub.chat.conversations import Conversations
from hub.chat.dashboard import Dashboard
from hub.chat.fanout import Fanout
from hub.chat.feedback import Feedback
from hub.chat.followup import Followups
from hub.chat.handoffs import Handoffs
from hub.chat.join import Joiner
from hub.chat.mentions import Mentions
from hub.chat.metering import TenantMeter
from hub.chat.notes import Notes
from hub.chat.presence import Presence
from hub.chat.publisher import Publisher
from hub.chat.replies import ReplyRunner
from hub.chat.service import ChatService
from hub.chat.visits import Visits
from hub.chat.widgets import LiveWidgets
from hub.coord import Coordinator, coordinator_for
from hub.keys import Keys
from hub.knowledge import KnowledgeBase
from hub.mail import Mailer, mailer_from_settings
from hub.metrics import Metrics
from hub.office_hours import Clock, utc_now
from hub.password_reset import PasswordResets
from hub.pricing import LivePricebook
from hub.push.alerts import HandoffAlerts, PushSender
from hub.settings import Settings
from hub.signouts import SignOuts
from hub.store.database import migrate_database, open_engine
from hub.store.sessions import count_waiting
from hub.store.writer import MessageWriter
from hub.supervise import supervise
from hub.team import Team
from hub.tenants import TenantCache, TenantChanges, WidgetOrigins
from hub.webhooks.outbox import Webhooks

logger = logging.getLogger(__name__)

SCRAPE_QUERY_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Services:
    """What the edge (HTTP handlers, sockets, pages) uses of a node: one service per job, no internals.

    Handlers read it from ``request.state.services``; it is one object so the per-connection copy of
    the lifespan state stays two entries (an idle visitor socket is most of a node's memory).
    """

    settings: Settings
    engine: AsyncEngine
    tenants: TenantCache
    accounts: Accounts
    pricebook: LivePricebook
    webhooks: Webhooks
    push: PushSender
    throttle: Throttle
    widget_origins: WidgetOrigins
    widget_bundles: BundleCache
    conversations: Conversations
    control: SessionControl
    joiner: Joiner
    dashboard: Dashboard
    assignments: Assignments
    presence: Presence
    availability: Availability
    followups: Followups
    feedback: Feedback
    knowledge: KnowledgeBase
    team: Team
    resets: PasswordResets
    signouts: SignOuts
    widgets: LiveWidgets
    visits: Visits
    notes: Notes
    mentions: Mentions
    sockets: set[object]
    metrics: Metrics
    forget_tenant: Callable[[str], None]  # a tenant's settings changed: every node drops what it cached of it
    health: Callable[[], Awaitable[dict[str, object]]]
    scrape: Callable[[], Awaitable[bytes]]
    draining: Callable[[], bool]  # SIGTERM came: this node is going away (readiness says no)


@dataclass
class Node:
    settings: Settings
    engine: AsyncEngine
    keys: Keys
    broker: Broker
    coord: Coordinator
    fanout: Fanout
    writer: MessageWriter
    presence: Presence
    webhooks: Webhooks
    push: PushSender
    alerts: HandoffAlerts
    chat: ChatService
    pricebook: LivePricebook
    meter: TenantMeter
    ai: AIProvider
    replies: ReplyRunner
    conversations: Conversations
    control: SessionControl
    joiner: Joiner
    dashboard: Dashboard
    assignments: Assignments
    tenants: TenantCache
    accounts: Accounts
    widget_origins: WidgetOrigins
    throttle: Throttle
    metrics: Metrics
    availability: Availability
    followups: Followups
    feedback: Feedback
    knowledge: KnowledgeBase
    team: Team
    resets: PasswordResets
    signouts: SignOuts
    tenant_changes: TenantChanges
    widgets: LiveWidgets
    visits: Visits
    context_retention: ContextRetention
    notes: Notes
    mentions: Mentions
    _stack: AsyncExitStack
    widget_bundles: BundleCache = field(default_factory=BundleCache)
    sockets: set[object] = field(default_factory=set)
    draining: bool = False

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        backplane: MemoryBackplane | None = None,
        mailer: Mailer | None = None,
        clock: Clock = utc_now,
    ) -> Node:
        """``backplane``: several nodes in one process (tests) share one instead of a Redis. ``mailer``: one
        given instead of the SMTP one ``HUB_SMTP_URL`` names (tests). ``clock``: what office hours read."""
        logs.node_id.set(settings.node_id)  # the node's background tasks, started below, log with its id
        stack = AsyncExitStack()
        # First: every part below counts into this node's own registry.
        metrics = Metrics(asyncio.get_running_loop())
        try:
            engine = open_engine(settings.database_url, settings.database_timeout_s)
            stack.push_async_callback(engine.dispose)
            await migrate_database(settings.database_url)
            keys = Keys(settings.redis_prefix)
            coord = coordinator_for(settings.redis_url, backplane)
            stack.push_async_callback(coord.aclose)
            broker = broker_from_url(
                settings.redis_url,
                prefix=settings.redis_prefix,
                node_id=settings.node_id,
                backplane=backplane,
                metrics=metrics,
            )
            fanout = Fanout(broker, settings.node_id, metrics)
            stack.push_async_callback(broker.disconnect)
            await fanout.connect()
            writer = MessageWriter(engine, timeout_s=settings.database_timeout_s, metrics=metrics)
            stack.push_async_callback(writer.stop)
            writer.start()
            publisher = Publisher(fanout, keys)
            presence = Presence(coord, keys, settings.node_id, settings.presence_ttl_s, publisher.announce)
            webhooks = Webhooks(engine, allow_private=settings.webhooks_allow_private, metrics=metrics)
            stack.push_async_callback(webhooks.aclose)
            chat = ChatService(engine, writer, publisher, webhooks, presence.online_here)
            visits = Visits(engine, publisher, clock, timeout_s=settings.database_timeout_s, metrics=metrics)
            stack.push_async_callback(visits.stop)  # what is queued is written before the store and broker close
            context_retention = ContextRetention(
                engine,
                settings.visitor_context_retention_days,
                timeout_s=settings.database_timeout_s,
                metrics=metrics,
            )
            pricebook = LivePricebook(engine, fanout, keys)
            stack.push_async_callback(pricebook.stop)
            await pricebook.start()
            signouts = SignOuts(engine, fanout, keys)
            stack.push_async_callback(signouts.stop)
            await signouts.start()
            knowledge = KnowledgeBase(engine, fanout, keys, settings.knowledge_timeout_s)
            stack.push_async_callback(knowledge.stop)
            await knowledge.start()
            meter = TenantMeter(engine)
            stack.push_async_callback(meter.aclose)
            ai = provider_from_settings(settings)
            stack.push_async_callback(ai.aclose)
            tenants = TenantCache(engine)

            def drop_tenant(tenant_id: str | None) -> None:
                """Every per-tenant cache of this node, of one tenant or (None) all: the tenant (and the persona
                name its widget shows), the persona its AI replies speak as, its webhook endpoints."""
                tenants.forget(tenant_id)
                meter.forget_persona(tenant_id)
                webhooks.forget(tenant_id)

            tenant_changes = TenantChanges(fanout, keys, drop_tenant)
            stack.push_async_callback(tenant_changes.stop)
            await tenant_changes.start()
            widgets = LiveWidgets(fanout, keys, tenants.get, meter.persona, drop_tenant)
            stack.push_async_callback(widgets.stop)
            mailer = mailer if mailer is not None else mailer_from_settings(settings)
            if mailer is not None:
                stack.push_async_callback(mailer.aclose)
            availability = Availability(engine, presence, tenants.get, mail=mailer is not None, clock=clock)
            followups = Followups(
                engine,
                writer,
                mailer,
                coord,
                keys,
                presence,
                tenants.get,
                secret_key=settings.secret_key,
                public_url=settings.public_url,
                debounce_s=settings.mail_debounce_s,
            )
            push = PushSender(settings, engine)
            stack.push_async_callback(push.aclose)
            alerts = HandoffAlerts(
                engine,
                push,
                webhooks,
                tenants.get,
                email_owners=followups.email_owners if mailer is not None else None,
                public_url=settings.public_url,
            )
            stack.push_async_callback(alerts.aclose)
            assignments = Assignments(engine, publisher, coord, keys, presence, tenants.get, webhooks)
            handoffs = Handoffs(chat, availability.outside_hours_of, alerts, assignments.round_robin)
            replies = ReplyRunner(
                engine,
                chat,
                handoffs,
                fanout,
                broker,
                keys,
                ai,
                meter,
                lambda: pricebook.current,
                coord,
                tenants.get,
                settings.node_id,
                settings.reply_lease_s,
                metrics,
                knowledge.passages,
            )
            # Closed before the writer: replies in flight may finish (the grace), and store what they streamed.
            stack.push_async_callback(replies.stop, settings.shutdown_grace_s)
            replies.start()
            control = SessionControl(
                engine, chat, replies, coord, keys, settings.takeover_lock_ttl_s, followups.agent_replied, handoffs
            )
            notes = Notes(
                engine,
                publisher,
                push,
                presence,
                send_email=followups.send if mailer is not None else None,
                public_url=settings.public_url,
            )
            stack.push_async_callback(notes.aclose)
            throttle = Throttle(settings.redis_url, settings.redis_prefix)
            stack.push_async_callback(throttle.aclose)
            passwords = Passwords(settings.password_hashing)
            accounts = Accounts(engine, passwords, lambda: pricebook.current, meter.used, tenants.get)
            team = Team(engine, passwords, accounts, signouts, control, mailer, settings.public_url)
            resets = PasswordResets(engine, passwords, signouts, throttle, mailer, settings.public_url)
            stack.push_async_callback(resets.aclose)
            node = cls(
                settings=settings,
                engine=engine,
                keys=keys,
                broker=broker,
                coord=coord,
                fanout=fanout,
                writer=writer,
                presence=presence,
                webhooks=webhooks,
                push=push,
                alerts=alerts,
                chat=chat,
                pricebook=pricebook,
                meter=meter,
                ai=ai,
                replies=replies,
                conversations=Conversations(chat, replies, handoffs, writer),
                control=control,
                joiner=Joiner(engine, fanout, broker, keys),
                dashboard=Dashboard(engine, fanout, keys, presence),
                assignments=assignments,
                tenants=tenants,
                accounts=accounts,
                widget_origins=WidgetOrigins(engine),
                throttle=throttle,
                metrics=metrics,
                availability=availability,
                followups=followups,
                feedback=Feedback(webhooks, chat.publisher),
                knowledge=knowledge,
                team=team,
                resets=resets,
                signouts=signouts,
                tenant_changes=tenant_changes,
                widgets=widgets,
                visits=visits,
                context_retention=context_retention,
                notes=notes,
                mentions=Mentions(engine, publisher),
                _stack=stack,
            )
            for name, run in (
                ("visitor-presence", presence.run),
                ("takeover-claims", control.run),
                ("pricebook-reload", pricebook.run),
                ("webhook-dispatcher", webhooks.run),
                ("handoff-alerts", alerts.run),
                ("credit-meter", meter.run),
                ("reply-emails", followups.run),
                ("signout-recheck", signouts.run),
                ("visitor-context", visits.run),
            ):
                node.background(name, run)
            if settings.visitor_context_retention_days:  # 0: kept for ever, nothing to sweep
                node.background("visitor-context-retention", context_retention.run)
        except BaseException:
            await stack.aclose()
            raise
        logger.info(
            "node %s up: database=%s broker=%s ai=%s",
            settings.node_id,
            engine.dialect.name,
            type(broker).__name__,
            ai.name,
        )
        return node

    def background(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """A supervised task that lives as long as the node (cancelled first when it closes)."""
        task = asyncio.create_task(supervise(name, run), name=name)

        async def stop() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        self._stack.push_async_callback(stop)

    @property
    def services(self) -> Services:
        return Services(
            settings=self.settings,
            engine=self.engine,
            tenants=self.tenants,
            accounts=self.accounts,
            pricebook=self.pricebook,
            webhooks=self.webhooks,
            push=self.push,
            throttle=self.throttle,
            widget_origins=self.widget_origins,
            widget_bundles=self.widget_bundles,
            conversations=self.conversations,
            control=self.control,
            joiner=self.joiner,
            dashboard=self.dashboard,
            assignments=self.assignments,
            presence=self.presence,
            availability=self.availability,
            followups=self.followups,
            feedback=self.feedback,
            knowledge=self.knowledge,
            team=self.team,
            resets=self.resets,
            signouts=self.signouts,
            widgets=self.widgets,
            visits=self.visits,
            notes=self.notes,
            mentions=self.mentions,
            sockets=self.sockets,
            metrics=self.metrics,
            forget_tenant=self.forget_tenant,
            health=self.health,
            scrape=self.scrape,
            draining=self.is_draining,
        )

    def drain(self) -> None:
        """This node is going away: readiness answers 503 from now on, everything else still works."""
        self.draining = True

    def is_draining(self) -> bool:
        return self.draining

    def forget_tenant(self, tenant_id: str) -> None:
        """A tenant changed: this node drops its caches of it at once, every other node when the broker's
        ``tenant_changed`` frame comes (within its latency, not the caches' TTLs)."""
        self.tenant_changes.changed(tenant_id)

    async def close(self) -> None:
        await self._stack.aclose()

    async def scrape(self) -> bytes:
        """This node's metrics in Prometheus' text format; what only the store knows is read now (bounded)."""
        try:
            async with asyncio.timeout(SCRAPE_QUERY_TIMEOUT_S):
                waiting = await count_waiting(self.engine)
        except Exception as exc:  # the store away: the gauge keeps its last value, the scrape still answers
            logger.warning("counting the conversations waiting for a person failed: %r", exc)
        else:
            self.metrics.handoffs_waiting.set(waiting)
        return generate_latest(self.metrics.registry)

    async def health(self) -> dict[str, object]:
        async def database() -> dict[str, object]:
            async def ping() -> None:
                async with self.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))

            writer = self.writer.health()
            report: dict[str, object] = {"backend": self.engine.dialect.name, "writer": writer}
            try:
                # The whole check is bounded, connecting included: an unreachable database must answer 503 fast.
                async with asyncio.timeout(2):
                    await ping()
            except Exception as exc:  # any failure means "cannot serve", and the reason is reported
                return {"ok": False, **report, "error": type(exc).__name__}
            # A fresh connection that answers is not enough: the writer's own may be stuck (half-open).
            return {"ok": bool(writer["ok"]), **report}

        db, broker, ai = await asyncio.gather(database(), self.broker.health(), self.ai.health())
        return {
            "ok": bool(db["ok"] and broker["ok"]),
            "node": self.settings.node_id,
            "database": db,
            "redis" if self.settings.redis_url else "broker": broker,
            "ai": ai,
            "sockets": len(self.sockets),
            "ai_replies_streaming": self.replies.active,
        }
