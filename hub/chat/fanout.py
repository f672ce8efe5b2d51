"""Per-node fan-out: local sockets get a frame at once, other nodes through the broker.

A frame is encoded once; every local listener receives the same ``str``. Broker payloads carry a
small header (origin node and seq) so a node skips its own echo without parsing JSON. A payload with
seq ``CATCH_UP`` and no frame tells the other nodes to catch up on that channel from the store: this
node's broker dropped publishes to it (Redis was away longer than it keeps them).
"""

from __future__ import annotations

import logging
from typing import Protocol

from hub.broker.base import Broker
from hub.metrics import Metrics

logger = logging.getLogger(__name__)

CATCH_UP = -1  # the seq of a payload that carries no frame: "catch up on this channel from the store"


class Listener(Protocol):
    def deliver(self, seq: int, frame: str) -> None:
        """Take one frame; ``seq`` is 0 for frames that are not durable (tokens, typing, errors)."""

    def resync(self) -> None:
        """The broker may have dropped frames: catch up from the store."""


class Fanout:
    def __init__(self, broker: Broker, node_id: str, metrics: Metrics | None = None) -> None:
        self.broker = broker
        self.metrics = metrics or Metrics.unexposed()
        self._node = node_id.encode()
        self._listeners: dict[str, set[Listener]] = {}

    async def connect(self) -> None:
        """Hear other nodes: everything the broker receives comes in through here."""
        await self.broker.connect(self._from_broker, self._resync, self._lost)

    @property
    def channels(self) -> int:
        return len(self._listeners)

    async def join(self, channel: str, listener: Listener) -> None:
        listeners = self._listeners.get(channel)
        if listeners is None:
            self._listeners[channel] = {listener}
            await self.broker.subscribe(channel)
        else:
            listeners.add(listener)

    async def leave(self, channel: str, listener: Listener) -> None:
        listeners = self._listeners.get(channel)
        if listeners is None:
            return
        listeners.discard(listener)
        if not listeners:
            del self._listeners[channel]
            await self.broker.unsubscribe(channel)

    def publish(self, channel: str, seq: int, frame: bytes) -> None:
        listeners = self._listeners.get(channel)
        if listeners:
            text = frame.decode()
            for listener in tuple(listeners):
                listener.deliver(seq, text)
        self.broker.publish(channel, b"%s %d\n%s" % (self._node, seq, frame))

    def _from_broker(self, channel: str, payload: bytes) -> None:
        header, _, frame = payload.partition(b"\n")
        node, _, seq = header.partition(b" ")
        if node == self._node:
            return
        listeners = self._listeners.get(channel)
        if not listeners:
            return
        try:
            number = int(seq)
        except ValueError:
            logger.warning("dropping a malformed broker payload on %s", channel)
            return
        if number == CATCH_UP:
            self.metrics.resyncs_catch_up.inc()
            for listener in tuple(listeners):
                listener.resync()
            return
        text = frame.decode()
        for listener in tuple(listeners):
            listener.deliver(number, text)

    def _lost(self, channels: list[str]) -> None:
        """This node's publishes to these channels were dropped: every other node's listeners catch up."""
        for channel in channels:
            self.broker.publish(channel, b"%s %d\n" % (self._node, CATCH_UP))

    async def _resync(self) -> None:
        self.metrics.resyncs_reconnect.inc()
        for listeners in tuple(self._listeners.values()):
            for listener in tuple(listeners):
                listener.resync()
