"""The coordination interface: expiring claims and expiring sets (presence, reply leases), each with two backends."""

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
    async def expiring_touch(self, key: str, members: list[str], ttl_s: float, *, prune: bool = True) -> None:
        """Mark members present until ``ttl_s`` from now; ``prune`` drops members that lapsed meanwhile
        (a set whose lapsed members are news, the reply leases, keeps them for ``take_lapsed``)."""

    @abstractmethod
    async def expiring_remove(self, key: str, members: list[str]) -> None: ...

    @abstractmethod
    async def expiring_members(self, key: str) -> set[str]:
        """Members whose presence has not expired."""

    @abstractmethod
    async def take_lapsed(self, key: str) -> list[str]:
        """Remove and return members whose time ran out: each goes to exactly one caller on any node."""

    async def aclose(self) -> None:
        return None
