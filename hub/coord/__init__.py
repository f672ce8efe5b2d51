"""State several nodes agree on: who owns a session (takeover claims) and which visitors are online."""

from __future__ import annotations

from hub.backplane import MemoryBackplane
from hub.coord.base import Coordinator


def coordinator_for(redis_url: str | None, backplane: MemoryBackplane | None = None) -> Coordinator:
    """Redis when nodes share one; otherwise in-process, on ``backplane`` (a new one unless given)."""
    if redis_url:
        from hub.coord.redis import RedisCoordinator

        return RedisCoordinator(redis_url)
    from hub.coord.memory import MemoryCoordinator

    return MemoryCoordinator(backplane)


__all__ = ["Coordinator", "coordinator_for"]
