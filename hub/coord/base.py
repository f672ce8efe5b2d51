"""The coordination interface: expiring claims and expiring presence, each with two backends."""

from __future__ import annotations

from abc import ABC, abstractmethod


class Coordinator(ABC):
    @abstractmethod
    async def claim(self, key: str, holder: str, ttl_ms: int, *, force: bool = False) -> tuple[bool, str | None]:
        """Take ``key`` for ``holder`` if it is free or already theirs (or always, with ``force``).

        Returns whether it was taken and who held it before (``None`` when free).
        """

    @abstractmethod
    async def renew(self, claims: list[tuple[str, str]], ttl_ms: int) -> list[bool]:
        """Heartbeat: extend each ``(key, holder)`` claim still held; False where it lapsed or passed on."""

    @abstractmethod
    async def release(self, key: str, holder: str) -> bool:
        """Free ``key`` if ``holder`` still holds it."""

    @abstractmethod
    async def holder(self, key: str) -> str | None: ...

    @abstractmethod
    async def presence_touch(self, key: str, members: list[str], ttl_s: float) -> None:
        """Mark members present until ``ttl_s`` from now."""

    @abstractmethod
    async def presence_remove(self, key: str, members: list[str]) -> None: ...

    @abstractmethod
    async def presence_members(self, key: str) -> set[str]:
        """Members whose presence has not expired."""

    async def aclose(self) -> None:
        return None
