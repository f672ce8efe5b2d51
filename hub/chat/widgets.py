"""The open widgets of each tenant on this node, and the tenant's widget channel they hear together.

A visitor socket joins when it opens and leaves when it closes; the node is subscribed to a tenant's
widget channel while it holds at least one of that tenant's sockets. A change the tenant makes in the
portal (its active persona, the persona's name, how the widget looks) is published there as one
``widget`` frame holding the whole state, so every open widget on every node applies it within the
broker's latency, with no reload. The frame is encoded once by the node that made the change and
handed as the same text to every socket; nothing is read from the store per socket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from hub.appearance import appearance_of
from hub.chat.fanout import Fanout
from hub.keys import Keys
from hub.protocol import WidgetChanged, encode
from hub.store.models import Tenant
from hub.store.personas import Persona

logger = logging.getLogger(__name__)


class OpenWidget(Protocol):
    def tell(self, frame: str) -> None:
        """Queue a frame for this socket (not durable: no seq)."""


class _TenantWidgets:
    """The listener of one tenant's widget channel on this node: its local sockets."""

    __slots__ = ("heard", "owner", "sockets", "tenant_id")

    def __init__(self, owner: LiveWidgets, tenant_id: str) -> None:
        self.owner = owner
        self.tenant_id = tenant_id
        self.sockets: set[OpenWidget] = set()
        self.heard = 0  # frames delivered: a state read before the latest one must not follow it

    def deliver(self, seq: int, frame: str) -> None:
        self.heard += 1
        for socket in tuple(self.sockets):
            socket.tell(frame)

    def resync(self) -> None:
        # A change may have been published while the broker was away: the current state goes to every socket.
        self.owner.retell(self.tenant_id)


class LiveWidgets:
    def __init__(
        self,
        fanout: Fanout,
        keys: Keys,
        tenant: Callable[[str], Awaitable[Tenant | None]],
        persona: Callable[[str], Awaitable[Persona | None]],
        forget: Callable[[str], None],
    ) -> None:
        """``tenant`` and ``persona`` read the node's caches (of the tenant, of its active persona), which every
        node drops when they change; ``forget`` drops this node's caches of a tenant."""
        self.fanout = fanout
        self.keys = keys
        self._tenant = tenant
        self._persona = persona
        self._forget = forget
        self._tenants: dict[str, _TenantWidgets] = {}
        self._retelling: set[asyncio.Task[None]] = set()

    @property
    def tenants(self) -> int:
        return len(self._tenants)

    async def state(self, tenant_id: str) -> WidgetChanged | None:
        """What the tenant's widgets show now: the active persona's name and the appearance; None for a tenant
        that does not exist."""
        tenant = await self._tenant(tenant_id)
        if tenant is None:
            return None
        persona = await self._persona(tenant_id)
        return WidgetChanged(assistant=persona.name if persona else None, appearance=appearance_of(tenant))

    async def join(self, tenant_id: str, socket: OpenWidget) -> None:
        group = self._tenants.get(tenant_id)
        if group is not None:
            group.sockets.add(socket)
            return
        group = self._tenants[tenant_id] = _TenantWidgets(self, tenant_id)
        group.sockets.add(socket)
        await self.fanout.join(self.keys.widget_channel(tenant_id), group)

    async def leave(self, tenant_id: str, socket: OpenWidget) -> None:
        group = self._tenants.get(tenant_id)
        if group is None:
            return
        group.sockets.discard(socket)
        if not group.sockets:
            del self._tenants[tenant_id]
            await self.fanout.leave(self.keys.widget_channel(tenant_id), group)

    async def announce(self, tenant_id: str) -> None:
        """After a change is committed (and the node's caches of the tenant dropped): the tenant's state now, to
        every open widget of it on every node (this node's at once, through the local fast path)."""
        state = await self.state(tenant_id)
        if state is not None:
            self.fanout.publish(self.keys.widget_channel(tenant_id), 0, encode(state))

    def retell(self, tenant_id: str) -> None:
        task = asyncio.create_task(self._retell(tenant_id))
        self._retelling.add(task)
        task.add_done_callback(self._retelling.discard)

    async def _retell(self, tenant_id: str) -> None:
        group = self._tenants.get(tenant_id)
        if group is None:
            return
        heard = group.heard
        self._forget(tenant_id)  # the tenants channel's frame may have been lost too
        try:
            state = await self.state(tenant_id)
        except Exception:
            logger.exception("reading tenant %s's widget state after a broker resync failed", tenant_id)
            return
        # A change announced while the state was read is at least as new as what was read: it stands.
        if state is not None and self._tenants.get(tenant_id) is group and group.heard == heard:
            group.deliver(0, encode(state).decode())

    async def stop(self) -> None:
        for task in tuple(self._retelling):
            task.cancel()
        await asyncio.gather(*self._retelling, return_exceptions=True)
