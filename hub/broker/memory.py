"""In-process broker: one node, or several hub apps in one process sharing a ``MemoryBackplane``."""

from __future__ import annotations

import asyncio

from hub.backplane import MemoryBackplane
from hub.broker.base import Broker, LostHandler, MessageHandler, ResyncHandler


class MemoryBroker(Broker):
    def __init__(self, backplane: MemoryBackplane | None = None) -> None:
        self.backplane = backplane if backplane is not None else MemoryBackplane()
        self._channels: set[str] = set()
        self._on_message: MessageHandler = _nowhere

    async def connect(
        self,
        on_message: MessageHandler,
        on_resync: ResyncHandler | None = None,
        on_lost: LostHandler | None = None,
    ) -> None:
        self._on_message = on_message  # nothing here is ever lost, so there is never anything to resync

    async def disconnect(self) -> None:
        for channel in self._channels:
            self.backplane.subscribers[channel].pop(self, None)
        self._channels.clear()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        self.backplane.subscribers[channel][self] = self._deliver

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        subscribers = self.backplane.subscribers.get(channel)
        if subscribers is not None:
            subscribers.pop(self, None)
            if not subscribers:
                del self.backplane.subscribers[channel]

    def _deliver(self, channel: str, payload: bytes) -> None:
        self._on_message(channel, payload)

    def publish(self, channel: str, payload: bytes) -> None:
        subscribers = self.backplane.subscribers.get(channel)
        if not subscribers:
            return
        loop = asyncio.get_running_loop()
        for deliver in tuple(subscribers.values()):
            # call_soon keeps delivery asynchronous and in order, as a real server would.
            loop.call_soon(deliver, channel, payload)

    def buffer_append(self, key: str, item: bytes, ttl_s: int) -> None:
        self.backplane.lists.setdefault(key, []).append(item)

    def buffer_clear(self, key: str) -> None:
        self.backplane.lists.pop(key, None)

    async def buffer_read(self, key: str) -> list[bytes]:
        return list(self.backplane.lists.get(key, ()))

    async def health(self) -> dict[str, object]:
        return {"ok": True, "backend": "memory"}


def _nowhere(channel: str, payload: bytes) -> None:
    return None
