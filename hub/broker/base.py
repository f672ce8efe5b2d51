"""The broker interface: pub/sub between nodes plus short-lived shared buffers.

Publishing is fire-and-forget and keeps order: a backend may batch what is queued into one round
trip, but never reorders it. Durability is not the broker's job: every durable event is in the
store first, and a subscriber that reconnects calls ``on_resync`` so the hub backfills from there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

MessageHandler = Callable[[str, bytes], None]
ResyncHandler = Callable[[], Awaitable[None]]
# The broker gave up publishing to these channels (Redis was away for too long): other nodes' listeners of
# them missed something and must be told to catch up from the store.
LostHandler = Callable[[list[str]], None]


class Broker(ABC):
    @abstractmethod
    async def connect(
        self,
        on_message: MessageHandler,
        on_resync: ResyncHandler | None = None,
        on_lost: LostHandler | None = None,
    ) -> None:
        """Start hearing the channels this node subscribes to: every payload goes to ``on_message``.

        ``on_resync``: this node's subscriber may have missed payloads; ``on_lost``: publishes of this
        node to those channels were dropped."""

    @abstractmethod
    async def disconnect(self) -> None: ...

    @abstractmethod
    async def subscribe(self, channel: str) -> None: ...

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None: ...

    @abstractmethod
    def publish(self, channel: str, payload: bytes) -> None:
        """Queue ``payload`` for every node subscribed to ``channel`` (this one included)."""

    @abstractmethod
    def buffer_append(self, key: str, item: bytes, ttl_s: int) -> None:
        """Queue an append to a shared list, ordered with ``publish`` calls."""

    @abstractmethod
    def buffer_clear(self, key: str) -> None: ...

    @abstractmethod
    async def buffer_read(self, key: str) -> list[bytes]:
        """Read a shared list once every append queued before this call has landed."""

    @abstractmethod
    async def health(self) -> dict[str, object]:
        """``{"ok": bool, ...}`` for the health endpoint."""
