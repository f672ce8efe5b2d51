"""One socket's outgoing feed: a bounded queue drained by the socket's own sender task.

Durable frames are deduplicated and gap-checked by ``seq`` here: a frame already sent is dropped,
a frame that skips ahead first pulls the missing messages from the store. So the feed is correct
whatever order the local fast path and the broker deliver in, and after a broker outage.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

import orjson

from hub.store.models import StoredMessage

RESYNC = -1
SendText = Callable[[str], Awaitable[None]]
Backfill = Callable[[int, int | None], Awaitable[list[StoredMessage]]]


class SlowConsumer(Exception):
    """The socket fell more than a queue's worth of frames behind."""


class Feed:
    __slots__ = ("_backfill", "_items", "_max", "_send", "_skip_tokens", "_waiter", "last_seq", "overflowed")

    def __init__(self, send_text: SendText, backfill: Backfill, *, max_frames: int, last_seq: int = 0) -> None:
        self._send = send_text
        self._backfill = backfill
        self._items: deque[tuple[int, str]] = deque()
        self._max = max_frames
        self._waiter: asyncio.Future[None] | None = None
        self._skip_tokens: tuple[str, int, int] | None = None
        self.last_seq = last_seq
        self.overflowed = False

    def deliver(self, seq: int, frame: str) -> None:
        if self.overflowed:
            return
        if len(self._items) >= self._max:
            self.overflowed = True
        else:
            self._items.append((seq, frame))
        self._wake()

    def resync(self) -> None:
        self._items.append((RESYNC, ""))
        self._wake()

    def skip_tokens_through(self, message_id: str, index: int) -> None:
        """After a resume replayed a partial reply, drop queued tokens of it already sent."""
        self._skip_tokens = (message_id, index, len(self._items))

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def send_now(self, frame: bytes | str) -> None:
        await self._send(frame if isinstance(frame, str) else frame.decode())

    async def catch_up(self, until_seq: int | None = None) -> None:
        for message in await self._backfill(self.last_seq, until_seq):
            if message.seq > self.last_seq:
                self.last_seq = message.seq
                await self._send(orjson.dumps(message.frame()).decode())

    async def run(self) -> None:
        """Send until cancelled; raises ``SlowConsumer`` when the queue overflowed."""
        items = self._items
        while True:
            while not items:
                if self.overflowed:
                    raise SlowConsumer
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter
                self._waiter = None
            if self.overflowed:
                raise SlowConsumer
            seq, frame = items.popleft()
            if seq == RESYNC:
                await self.catch_up()
                continue
            if seq > 0:
                if seq <= self.last_seq:
                    continue
                if seq > self.last_seq + 1:
                    await self.catch_up(seq - 1)
                self.last_seq = seq
            elif self._skip_tokens is not None and self._skipped(frame):
                continue
            await self._send(frame)

    def _skipped(self, frame: str) -> bool:
        assert self._skip_tokens is not None
        message_id, index, remaining = self._skip_tokens
        if remaining <= 0:
            self._skip_tokens = None
            return False
        self._skip_tokens = (message_id, index, remaining - 1)
        if not frame.startswith('{"type":"token"'):
            return False
        token = orjson.loads(frame)
        return bool(token.get("message_id") == message_id and token.get("index", 0) <= index)
