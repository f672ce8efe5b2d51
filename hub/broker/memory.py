"""In-process broker: one node, or several hub apps inside one process sharing a ``MemoryBus``."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from hub.broker.base import Broker
from hub.coord.memory import MemoryCoordState


class MemoryBus:
    """What a Redis server is to the redis backend: channels and lists shared by brokers."""

    def __init__(self) -> None:
        self.subscribers: defaultdict[str, set[MemoryBroker]] = defaultdict(set)
        self.lists: dict[str, list[bytes]] = {}
        self.coord = MemoryCoordState()


class MemoryBroker(Broker):
    def __init__(self, url: str = "memory://", *, prefix: str, node_id: str, bus: MemoryBus | None = None) -> None:
        super().__init__(url, prefix=prefix, node_id=node_id)
        self.bus = bus if bus is not None else MemoryBus()
        self._channels: set[str] = set()

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        for channel in self._channels:
            self.bus.subscribers[channel].discard(self)
        self._channels.clear()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        self.bus.subscribers[channel].add(self)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        subscribers = self.bus.subscribers.get(channel)
        if subscribers is not None:
            subscribers.discard(self)
            if not subscribers:
                del self.bus.subscribers[channel]

    def publish(self, channel: str, payload: bytes) -> None:
        subscribers = self.bus.subscribers.get(channel)
        if not subscribers:
            return
        loop = asyncio.get_running_loop()
        for broker in tuple(subscribers):
            # call_soon keeps delivery asynchronous and in order, as a real server would.
            loop.call_soon(broker._on_message, channel, payload)

    def buffer_append(self, key: str, item: bytes, ttl_s: int) -> None:
        self.bus.lists.setdefault(key, []).append(item)

    def buffer_clear(self, key: str) -> None:
        self.bus.lists.pop(key, None)

    async def buffer_read(self, key: str) -> list[bytes]:
        return list(self.bus.lists.get(key, ()))

    async def health(self) -> dict[str, object]:
        return {"ok": True, "backend": "memory"}
