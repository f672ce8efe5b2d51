"""Ending a person's logins everywhere at once: their open Mission Control sockets, on every node.

Their tokens are revoked in the store first (the caller's transaction), so every HTTP request with one is
refused from the commit on, on every node: each request reads its token from the store. A socket was
checked once, when it opened, and is not asked again per frame; so the node that ended the logins
publishes ``sessions_ended`` on one platform-wide channel, and each node closes the sockets it holds for
that person (a dict lookup by person, nothing read from the store). Should a node miss the frame (Redis
away for longer than it keeps publishes), its broker's resync makes it check every socket it holds in
one query, and it checks them so every ``recheck_every_s`` anyway.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal, Protocol

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.auth.tokens import signed_in
from hub.chat.fanout import Fanout
from hub.keys import Keys
from hub.protocol import ACCOUNT_DEACTIVATED, PASSWORD_RESET, SIGNED_OUT, Refusal, SessionsEnded, encode

logger = logging.getLogger(__name__)

_decoder = msgspec.json.Decoder(SessionsEnded)
REFUSALS: dict[str, Refusal] = {"deactivated": ACCOUNT_DEACTIVATED, "password_reset": PASSWORD_RESET}


class SignedIn(Protocol):
    """A connection that lives on one login (an agent socket)."""

    @property
    def user_id(self) -> str: ...

    @property
    def token_hash(self) -> str: ...

    def end(self, refusal: Refusal) -> None:
        """Close now with this code and reason (without waiting for it)."""


class SignOuts:
    recheck_every_s = 60.0

    def __init__(self, engine: AsyncEngine, fanout: Fanout, keys: Keys) -> None:
        self.engine = engine
        self.fanout = fanout
        self.channel = keys.signout_channel()
        self._by_user: dict[str, set[SignedIn]] = {}
        self._recheck: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.fanout.join(self.channel, self)

    async def stop(self) -> None:
        if self._recheck is not None:
            self._recheck.cancel()
            await asyncio.gather(self._recheck, return_exceptions=True)
        await self.fanout.leave(self.channel, self)

    def add(self, connection: SignedIn) -> None:
        self._by_user.setdefault(connection.user_id, set()).add(connection)

    def discard(self, connection: SignedIn) -> None:
        held = self._by_user.get(connection.user_id)
        if held is not None:
            held.discard(connection)
            if not held:
                del self._by_user[connection.user_id]

    def announce(
        self,
        tenant_id: str,
        user_id: str,
        reason: Literal["deactivated", "password_reset"],
        *,
        keep: str | None = None,
    ) -> None:
        """After the tokens were revoked (committed): this node's sockets close at once, the others' as soon as
        the frame reaches them."""
        frame = SessionsEnded(tenant_id=tenant_id, user_id=user_id, reason=reason, keep=keep)
        self.fanout.publish(self.channel, 0, encode(frame))

    def deliver(self, seq: int, frame: str) -> None:
        try:
            ended = _decoder.decode(frame)
        except msgspec.DecodeError:
            logger.warning("dropping a malformed sessions_ended frame")
            return
        refusal = REFUSALS[ended.reason]
        for connection in tuple(self._by_user.get(ended.user_id, ())):
            if connection.token_hash != ended.keep:
                self.discard(connection)
                connection.end(refusal)

    def resync(self) -> None:
        """The broker may have dropped frames: check every socket held here against the store."""
        if self._recheck is None or self._recheck.done():
            self._recheck = asyncio.create_task(self._recheck_logged())

    async def _recheck_logged(self) -> None:
        try:
            await self.recheck()
        except Exception:
            logger.exception("checking the logins of this node's sockets failed; the next check retries")

    async def recheck(self) -> int:
        """Close every socket held here whose login ended (revoked, or the account deactivated); how many."""
        held = {connection.token_hash for connections in self._by_user.values() for connection in connections}
        if not held:
            return 0
        valid = await signed_in(self.engine, held)
        ended = [c for connections in self._by_user.values() for c in connections if c.token_hash not in valid]
        for connection in ended:
            self.discard(connection)
            connection.end(SIGNED_OUT)
        return len(ended)

    async def run(self) -> None:
        """Supervised: the safety net under the broker, one query per node now and then (never per frame)."""
        while True:
            await asyncio.sleep(self.recheck_every_s)
            await self.recheck()
