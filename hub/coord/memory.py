"""In-process coordination: one node, or several apps in one process sharing a ``MemoryBus``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from hub.coord.base import Coordinator


@dataclass
class MemoryCoordState:
    claims: dict[str, tuple[str, float]] = field(default_factory=dict)
    presence: dict[str, dict[str, float]] = field(default_factory=dict)


class MemoryCoordinator(Coordinator):
    def __init__(self, state: MemoryCoordState | None = None) -> None:
        self.state = state if state is not None else MemoryCoordState()

    def _current(self, key: str) -> str | None:
        entry = self.state.claims.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self.state.claims[key]
            return None
        return entry[0]

    async def claim(self, key: str, holder: str, ttl_ms: int, *, force: bool = False) -> tuple[bool, str | None]:
        current = self._current(key)
        if current not in (None, holder) and not force:
            return False, current
        self.state.claims[key] = (holder, time.monotonic() + ttl_ms / 1000)
        return True, current

    async def renew(self, claims: list[tuple[str, str]], ttl_ms: int) -> list[bool]:
        renewed = []
        for key, holder in claims:
            held = self._current(key) == holder
            if held:
                self.state.claims[key] = (holder, time.monotonic() + ttl_ms / 1000)
            renewed.append(held)
        return renewed

    async def release(self, key: str, holder: str) -> bool:
        if self._current(key) != holder:
            return False
        del self.state.claims[key]
        return True

    async def holder(self, key: str) -> str | None:
        return self._current(key)

    async def presence_touch(self, key: str, members: list[str], ttl_s: float) -> None:
        until = time.monotonic() + ttl_s
        self.state.presence.setdefault(key, {}).update(dict.fromkeys(members, until))

    async def presence_remove(self, key: str, members: list[str]) -> None:
        present = self.state.presence.get(key, {})
        for member in members:
            present.pop(member, None)

    async def presence_members(self, key: str) -> set[str]:
        now = time.monotonic()
        present = self.state.presence.get(key, {})
        for member in [member for member, until in present.items() if until <= now]:
            del present[member]
        return set(present)
