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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.accounts import Accounts
from hub.ai import AIProvider, provider_from_settings
from hub.auth.passwords import Passwords
from hub.auth.throttle import Throttle
from hub.backplane import MemoryBackplane
from hub.broker import Broker, broker_from_url
from hub.bundle import BundleCache
from hub.chat.control import SessionControl
from hub.chat.conversations import Conversations
from hub.chat.dashboard import Dashboard
from hub.chat.fanout import Fanout
from hub.chat.handoffs import Handoffs
from hub.chat.join import Joiner
from hub.chat.metering import TenantMeter
from hub.chat.presence import Presence
from hub.chat.publisher import Publisher
from hub.chat.replies import ReplyRunner
from hub.chat.service import ChatService
from hub.coord import Coordinator, coordinator_for
from hub.keys import Keys
from hub.knowledge import KnowledgeBase
from hub.pricing import LivePricebook
from hub.settings import Settings
from hub.store.database import migrate_database, open_engine
from hub.store.writer import MessageWriter
from hub.supervise import supervise
from hub.tenants import TenantCache, WidgetOrigins
from hub.webhooks.outbox import Webhooks

logger = logging.getLogger(__name__)


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
    throttle: Throttle
    widget_origins: WidgetOrigins
    widget_bundles: BundleCache
    conversations: Conversations
    control: SessionControl
    joiner: Joiner
    dashboard: Dashboard
    presence: Presence
    knowledge: KnowledgeBase
    sockets: set[object]
    forget_tenant: Callable[[str], None]  # a tenant's settings changed: drop what this node cached of it
    health: Callable[[], Awaitable[dict[str, object]]]


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
    chat: ChatService
    pricebook: LivePricebook
    meter: TenantMeter
    ai: AIProvider
    replies: ReplyRunner
    conversations: Conversations
    control: SessionControl
    joiner: Joiner
    dashboard: Dashboard
    tenants: TenantCache
    accounts: Accounts
    widget_origins: WidgetOrigins
    throttle: Throttle
    knowledge: KnowledgeBase
    _stack: AsyncExitStack
    widget_bundles: BundleCache = field(default_factory=BundleCache)
    sockets: set[object] = field(default_factory=set)

    @classmethod
    async def open(cls, settings: Settings, *, backplane: MemoryBackplane | None = None) -> Node:
        """``backplane``: several nodes in one process (tests) share one instead of a Redis."""
        stack = AsyncExitStack()
        try:
            engine = open_engine(settings.database_url, settings.database_timeout_s)
            stack.push_async_callback(engine.dispose)
            await migrate_database(settings.database_url)
            keys = Keys(settings.redis_prefix)
            coord = coordinator_for(settings.redis_url, backplane)
            stack.push_async_callback(coord.aclose)
            broker = broker_from_url(
                settings.redis_url, prefix=settings.redis_prefix, node_id=settings.node_id, backplane=backplane
            )
            fanout = Fanout(broker, settings.node_id)
            stack.push_async_callback(broker.disconnect)
            await fanout.connect()
            writer = MessageWriter(engine, timeout_s=settings.database_timeout_s)
            stack.push_async_callback(writer.stop)
            writer.start()
            publisher = Publisher(fanout, keys)
            presence = Presence(coord, keys, settings.node_id, settings.presence_ttl_s, publisher.announce)
            webhooks = Webhooks(engine, allow_private=settings.webhooks_allow_private)
            stack.push_async_callback(webhooks.aclose)
            chat = ChatService(engine, writer, publisher, webhooks, presence.online_here)
            pricebook = LivePricebook(engine, fanout, keys)
            stack.push_async_callback(pricebook.stop)
            await pricebook.start()
            knowledge = KnowledgeBase(engine, fanout, keys, settings.knowledge_timeout_s)
            stack.push_async_callback(knowledge.stop)
            await knowledge.start()
            meter = TenantMeter(engine)
            stack.push_async_callback(meter.aclose)
            ai = provider_from_settings(settings)
            stack.push_async_callback(ai.aclose)
            tenants = TenantCache(engine)
            handoffs = Handoffs(chat)
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
                knowledge.passages,
            )
            # Closed before the writer: replies in flight may finish (the grace), and store what they streamed.
            stack.push_async_callback(replies.stop, settings.shutdown_grace_s)
            replies.start()
            control = SessionControl(engine, chat, replies, coord, keys, settings.takeover_lock_ttl_s)
            throttle = Throttle(settings.redis_url, settings.redis_prefix)
            stack.push_async_callback(throttle.aclose)
            passwords = Passwords(settings.password_hashing)
            accounts = Accounts(engine, passwords, lambda: pricebook.current, meter.used, tenants.get)
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
                chat=chat,
                pricebook=pricebook,
                meter=meter,
                ai=ai,
                replies=replies,
                conversations=Conversations(chat, replies, handoffs, writer),
                control=control,
                joiner=Joiner(engine, fanout, broker, keys),
                dashboard=Dashboard(engine, fanout, keys, presence),
                tenants=tenants,
                accounts=accounts,
                widget_origins=WidgetOrigins(engine),
                throttle=throttle,
                knowledge=knowledge,
                _stack=stack,
            )
            for name, run in (
                ("visitor-presence", presence.run),
                ("takeover-claims", control.run),
                ("pricebook-reload", pricebook.run),
                ("webhook-dispatcher", webhooks.run),
                ("credit-meter", meter.run),
            ):
                node.background(name, run)
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
            throttle=self.throttle,
            widget_origins=self.widget_origins,
            widget_bundles=self.widget_bundles,
            conversations=self.conversations,
            control=self.control,
            joiner=self.joiner,
            dashboard=self.dashboard,
            presence=self.presence,
            knowledge=self.knowledge,
            sockets=self.sockets,
            forget_tenant=self.forget_tenant,
            health=self.health,
        )

    def forget_tenant(self, tenant_id: str) -> None:
        """Every per-tenant cache of this node: the tenant (and the persona name its widget shows), the
        persona its AI replies speak as, its webhook endpoints."""
        self.tenants.forget(tenant_id)
        self.meter.forget_persona(tenant_id)
        self.webhooks.forget(tenant_id)

    async def close(self) -> None:
        await self._stack.aclose()

    async def health(self) -> dict[str, object]:
        async def database() -> dict[str, object]:
            async def ping() -> None:
                async with self.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))

            writer = self.writer.health()
            report: dict[str, object] = {"backend": self.engine.dialect.name, "writer": writer}
            try:
                # The whole check is bounded, connecting included: an unreachable database must answer 503 fast.
                await asyncio.wait_for(ping(), timeout=2)
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
