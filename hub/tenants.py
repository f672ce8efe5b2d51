"""Tenants as the edge reads them on every connect and request: cached, with their widget keys' origins."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from async_lru import alru_cache
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.chat.fanout import Fanout
from hub.keys import Keys
from hub.origins import origin_matches
from hub.protocol import TenantChanged, decode_node_frame, encode
from hub.store.models import Tenant
from hub.store.personas import active_persona
from hub.store.tables import widget_keys
from hub.store.tenants import get_tenant
from hub.store.widget_keys import WidgetKey, list_widget_keys


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

    def forget(self, tenant_id: str | None) -> None:
        """One tenant, or (None) every tenant."""
        if tenant_id is None:
            self._load.cache_clear()
        else:
            self._load.cache_invalidate(tenant_id)


class TenantChanges:
    """ "This tenant changed, drop what you cached of it", heard by every node on one platform-wide channel.

    ``drop(tenant_id)`` drops one tenant's caches, ``drop(None)`` every tenant's (after a broker resync an
    announcement may have been lost). Without it a node would serve a tenant's old settings, persona name or
    widget bundle until its caches' TTLs ran out."""

    def __init__(self, fanout: Fanout, keys: Keys, drop: Callable[[str | None], None]) -> None:
        self.fanout = fanout
        self.channel = keys.tenants_channel()
        self.drop = drop

    async def start(self) -> None:
        await self.fanout.join(self.channel, self)

    async def stop(self) -> None:
        await self.fanout.leave(self.channel, self)

    def changed(self, tenant_id: str) -> None:
        """After a change is committed: every node drops the tenant's caches (this one at once)."""
        self.fanout.publish(self.channel, 0, encode(TenantChanged(tenant_id=tenant_id)))

    def deliver(self, seq: int, frame: str) -> None:
        message = decode_node_frame(frame)
        if isinstance(message, TenantChanged):
            self.drop(message.tenant_id)

    def resync(self) -> None:
        self.drop(None)


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
