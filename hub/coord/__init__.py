"""State several nodes agree on: who owns a session (takeover claims) and which visitors are online."""

from __future__ import annotations

from hub.broker.base import Broker
from hub.broker.memory import MemoryBroker
from hub.coord.base import Coordinator
from hub.coord.memory import MemoryCoordinator, MemoryCoordState
from hub.coord.redis import RedisCoordinator


def coordinator_for(redis_url: str | None, broker: Broker) -> Coordinator:
    """Redis when nodes share one; otherwise in-process, shared by the apps on one ``MemoryBus``."""
    if redis_url:
        return RedisCoordinator(redis_url)
    state = broker.bus.coord if isinstance(broker, MemoryBroker) else MemoryCoordState()
    return MemoryCoordinator(state)


__all__ = ["Coordinator", "coordinator_for"]
