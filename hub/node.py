"""Everything one hub node holds while it runs, opened and closed by the app's lifespan."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace

from async_lru import alru_cache
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.accounts import Accounts
from hub.ai import AIProvider, provider_from_settings
from hub.auth.passwords import Passwords
from hub.auth.throttle import Throttle
from hub.broker import Broker, broker_from_url
from hub.bundle import BundleCache
from hub.chat.control import SessionControl
from hub.chat.fanout import Fanout
from hub.chat.presence import Presence
from hub.chat.replies import ReplyRunner
from hub.chat.service import ChatService
from hub.coord import Coordinator, coordinator_for
from hub.keys import Keys
from hub.origins import origin_matches
from hub.pricing import LivePricebook
from hub.settings import Settings
from hub.store.database import migrate, open_engine
from hub.store.models import Tenant
from hub.store.personas import active_persona
from hub.store.tables import widget_keys
from hub.store.tenants import get_tenant
from hub.store.widget_keys import WidgetKey, list_widget_keys
from hub.store.writer import MessageWriter
from hub.supervise import supervise
from hub.webhooks.outbox import Webhooks

logger = logging.getLogger(__name__)


class TenantCache:
    """Tenants are read on every connect; a short TTL keeps that off the database.

    A tenant's browser origins are its own list plus those of its active widget keys, so a page that
    embeds the widget with a key may also open the visitor WebSocket.
    """

    ttl_s = 10.0

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Single-flight: a hundred visitors of one tenant connecting at once make one read, not a hundred.
        self._load = alru_cache(maxsize=10_000, ttl=self.ttl_s)(self._read)

    async def _read(self, tenant_id: str) -> tuple[Tenant | None, tuple[WidgetKey, ...]]:
        tenant = await get_tenant(self.engine, tenant_id) if _looks_like_uuid(tenant_id) else None
        keys: tuple[WidgetKey, ...] = ()
        if tenant is not None:
            keys = tuple(key for key in await list_widget_keys(self.engine, tenant.id) if not key.revoked)
            origins = dict.fromkeys([*tenant.origins, *(origin for key in keys for origin in key.origins)])
            config = tenant.config
            async with self.engine.connect() as connection:
                persona = await active_persona(connection, tenant.id)
            if persona is not None:  # the widget shows the active persona's name
                config = {**config, "persona": {**(config.get("persona") or {}), "name": persona.name}}
            tenant = replace(tenant, origins=tuple(origins), config=config)
        return tenant, keys

    async def get(self, tenant_id: str) -> Tenant | None:
        return (await self._load(tenant_id))[0]

    async def widget_keys(self, tenant_id: str) -> tuple[WidgetKey, ...]:
        """The tenant's active publishable keys, oldest first."""
        return (await self._load(tenant_id))[1]

    def forget(self, tenant_id: str) -> None:
        self._load.cache_invalidate(tenant_id)


class WidgetOrigins:
    """Every origin some active widget key allows, for CORS preflights (which carry no key)."""

    ttl_s = 10.0

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._loaded_at = -self.ttl_s
        self._patterns: tuple[str, ...] = ()

    async def allowed(self, origin: str) -> bool:
        now = time.monotonic()
        if now - self._loaded_at >= self.ttl_s:
            async with self.engine.connect() as connection:
                rows = await connection.execute(select(widget_keys.c.origins).where(widget_keys.c.revoked_at.is_(None)))
                self._patterns = tuple({pattern for (origins,) in rows for pattern in origins or ()})
            self._loaded_at = now
        return origin_matches(origin, self._patterns)


def _looks_like_uuid(value: str) -> bool:
    return len(value) == 36 and value.count("-") == 4 and all(c in "0123456789abcdef-" for c in value.lower())


@dataclass
class Node:
    settings: Settings
    engine: AsyncEngine
    broker: Broker
    ai: AIProvider
    keys: Keys
    writer: MessageWriter
    fanout: Fanout
    chat: ChatService
    replies: ReplyRunner
    tenants: TenantCache
    throttle: Throttle
    widget_origins: WidgetOrigins
    coord: Coordinator
    presence: Presence
    control: SessionControl
    pricebook: LivePricebook
    webhooks: Webhooks
    accounts: Accounts
    widget_bundles: BundleCache = field(default_factory=BundleCache)
    sockets: set[object] = field(default_factory=set)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def open(cls, settings: Settings, *, broker: Broker | None = None) -> Node:
        engine = open_engine(settings.database_url)
        await migrate(engine)
        keys = Keys(settings.redis_prefix)
        broker = broker or broker_from_url(settings.redis_url, prefix=settings.redis_prefix, node_id=settings.node_id)
        fanout = Fanout(broker, settings.node_id)
        await broker.connect()
        writer = MessageWriter(engine)
        writer.start()
        ai = provider_from_settings(settings)
        chat = ChatService(engine, writer, fanout, keys)
        replies = ReplyRunner(chat, ai, broker, keys)
        logger.info(
            "node %s up: database=%s broker=%s ai=%s",
            settings.node_id,
            engine.dialect.name,
            type(broker).__name__,
            ai.name,
        )
        throttle = Throttle(settings.redis_url, settings.redis_prefix)
        coord = coordinator_for(settings.redis_url, broker)
        presence = Presence(coord, keys, settings.node_id, chat, settings.presence_ttl_s)
        chat.presence = presence
        control = SessionControl(engine, chat, replies, coord, keys, settings.takeover_lock_ttl_s)
        pricebook = LivePricebook(engine, fanout, keys)
        await pricebook.start()
        replies.pricebook = pricebook
        webhooks = Webhooks(engine, allow_private=settings.webhooks_allow_private)
        chat.webhooks = webhooks
        tenants = TenantCache(engine)
        passwords = Passwords(settings.password_hashing)
        accounts = Accounts(engine, passwords, lambda: pricebook.current, replies.meter.unwritten, tenants.get)
        node = cls(
            settings,
            engine,
            broker,
            ai,
            keys,
            writer,
            fanout,
            chat,
            replies,
            tenants,
            throttle,
            WidgetOrigins(engine),
            coord,
            presence,
            control,
            pricebook,
            webhooks,
            accounts,
        )
        node.tasks = [
            asyncio.create_task(supervise("visitor-presence", presence.run)),
            asyncio.create_task(supervise("takeover-claims", control.run)),
            asyncio.create_task(supervise("pricebook-reload", pricebook.run)),
            asyncio.create_task(supervise("webhook-dispatcher", webhooks.run)),
            asyncio.create_task(supervise("credit-meter", replies.meter.run)),
        ]
        return node

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.pricebook.stop()
        await self.replies.stop()
        await self.replies.meter.aclose()
        await self.writer.stop()
        await self.webhooks.aclose()
        await self.broker.disconnect()
        await self.ai.aclose()
        await self.throttle.aclose()
        await self.coord.aclose()
        await self.engine.dispose()

    async def health(self) -> dict[str, object]:
        async def database() -> dict[str, object]:
            async def ping() -> None:
                async with self.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))

            try:
                # The whole check is bounded, connecting included: an unreachable database must answer 503 fast.
                await asyncio.wait_for(ping(), timeout=2)
            except Exception as exc:  # any failure means "cannot serve", and the reason is reported
                return {"ok": False, "backend": self.engine.dialect.name, "error": type(exc).__name__}
            return {"ok": True, "backend": self.engine.dialect.name}

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
