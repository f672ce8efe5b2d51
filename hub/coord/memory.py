"""In-process coordination: one node, or several hub apps in one process sharing a ``MemoryBackplane``."""

from __future__ import annotations

from hub.backplane import MemoryBackplane
from hub.coord.base import Coordinator


class MemoryCoordinator(Coordinator):
    def __init__(self, backplane: MemoryBackplane | None = None) -> None:
        self.backplane = backplane if backplane is not None else MemoryBackplane()

    def _current(self, key: str) -> str | None:
        entry = self.backplane.claims.get(key)
        if entry is None:
            return None
        if entry[1] <= self.backplane.clock():
            del self.backplane.claims[key]
            return None
        return entry[0]

    async def claim(self, key: str, holder: str, ttl_ms: int, *, force: bool = False) -> tuple[bool, str | None]:
        current = self._current(key)
        if current not in (None, holder) and not force:
            return False, current
        self.backplane.claims[key] = (holder, self.backplane.clock() + ttl_ms / 1000)
        return True, current

    async def renew(self, claims: list[tuple[str, str]], ttl_ms: int) -> list[bool]:
        renewed = []
        for key, holder in claims:
            held = self._current(key) == holder
            if held:
                self.backplane.claims[key] = (holder, self.backplane.clock() + ttl_ms / 1000)
            renewed.append(held)
        return renewed

    async def release(self, key: str, holder: str) -> bool:
        if self._current(key) != holder:
            return False
        del self.backplane.claims[key]
        return True

    async def holder(self, key: str) -> str | None:
        return self._current(key)

    async def expiring_touch(self, key: str, members: list[str], ttl_s: float, *, prune: bool = True) -> None:
        until = self.backplane.clock() + ttl_s
        self.backplane.presence.setdefault(key, {}).update(dict.fromkeys(members, until))

    async def expiring_remove(self, key: str, members: list[str]) -> None:
        present = self.backplane.presence.get(key, {})
        for member in members:
            present.pop(member, None)

    async def expiring_members(self, key: str) -> set[str]:
        now = self.backplane.clock()
        present = self.backplane.presence.get(key, {})
        for member in [member for member, until in present.items() if until <= now]:
            del present[member]
        return set(present)

    async def take_lapsed(self, key: str) -> list[str]:
        now = self.backplane.clock()
        present = self.backplane.presence.get(key, {})
        lapsed = [member for member, until in present.items() if until <= now]
        for member in lapsed:
            del present[member]
        return lapsed
