"""Password hashing with argon2id (argon2-cffi), off the event loop: at production cost a hash is tens of ms of CPU.

The cost is a setting (``HUB_PASSWORD_HASHING``), given to ``Passwords`` when a node or the CLI builds
one. Verifying reads the cost from the stored hash, so hashes made under one profile verify under any.
"""

from __future__ import annotations

import asyncio

from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from hub.settings import DEFAULT_PASSWORD_HASHING

MIN_PASSWORD_LENGTH = 8

# HUB_PASSWORD_HASHING (hub.settings.PASSWORD_HASHING) -> argon2-cffi's profile. "cheapest" is for test
# suites only, where production cost hashing every test password was a measured share of the suite's time.
PROFILES: dict[str, Parameters] = {
    "rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY,  # argon2-cffi's default: 64 MiB, 3 passes, 4 lanes
    "cheapest": profiles.CHEAPEST,
}


class Passwords:
    def __init__(self, profile: str = DEFAULT_PASSWORD_HASHING) -> None:
        self._hasher = PasswordHasher.from_parameters(PROFILES[profile])
        # Verifying against this when the email is unknown keeps both answers equally slow.
        self._dummy_hash = self._hasher.hash("not-a-real-password")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """False for a wrong password and for no account (``None``), after the same work."""

        def verify() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy_hash, password) and password_hash is not None
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(verify)
