"""One socket's outgoing feed: a bounded queue drained by the socket's own sender task.

Durable frames are deduplicated and gap-checked by ``seq`` here: a frame already sent is dropped,
a frame that skips ahead first pulls the missing messages from the store. So the feed is correct
whatever order the local fast path and the broker deliver in, and after a broker outage.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from hub.protocol import encode, message_frame, token_index, token_prefix
from hub.store.models import StoredMessage

RESYNC = -1
SendText = Callable[[str], Awaitable[None]]
Backfill = Callable[[int, int | None], Awaitable[list[StoredMessage]]]


class SlowConsumer(Exception):
    """The socket fell more than a queue's worth of frames behind."""


async def _closed(frame: str) -> None:
    raise SlowConsumer  # a closed feed sends nothing; its sender ends as for an overflow


async def _nothing(after_seq: int, until_seq: int | None) -> list[StoredMessage]:
    return []


class Feed:
    __slots__ = (
        "_backfill",
        "_items",
        "_max",
        "_on_overflow",
        "_room",
        "_send",
        "_token_floor",
        "_unpark",
        "_waiter",
        "delivered",
        "last_seq",
        "overflowed",
    )

    def __init__(
        self,
        send_text: SendText,
        backfill: Backfill,
        *,
        max_frames: int,
        last_seq: int = 0,
        on_overflow: Callable[[], None] | None = None,
    ) -> None:
        self._send = send_text
        self._on_overflow = on_overflow
        self._backfill = backfill
        self._items: deque[tuple[int, str]] = deque()
        self._max = max_frames
        self._waiter: asyncio.Future[None] | None = None
        self._room: asyncio.Future[None] | None = None
        self._unpark: Callable[[], None] | None = None
        self.delivered = 0
        self._token_floor: tuple[str, int] | None = None
        self.last_seq = last_seq
        self.overflowed = False

    def deliver(self, seq: int, frame: str) -> None:
        self.delivered += 1
        if self.overflowed:
            return
        if len(self._items) >= self._max:
            # The sender may be stuck in a send the peer never drains, so it is told from here.
            self.overflowed = True
            self._items.clear()
            if self._on_overflow is not None:
                self._on_overflow()
        else:
            self._items.append((seq, frame))
        self._wake()

    def resync(self) -> None:
        if self.overflowed:
            return
        self._items.append((RESYNC, ""))
        self._wake()

    def close(self) -> None:
        """The socket is gone: let go of its queue and of its owner's callbacks.

        A feed and its owner refer to each other (the owner holds the feed, the feed the owner's send
        and backfill), and the traceback of a cancelled sender holds the feed. Broken here, a closed
        socket (its connection, protocol and buffers) is freed by reference counting when its handler
        returns, instead of waiting for the cycle collector's full pass, which a serving node runs
        rarely (``tune_garbage_collector``): a 30-minute soak grew 1 MiB a minute from closed sockets.
        Frames delivered later are dropped, and a sender still running ends as for an overflow.
        """
        self.overflowed = True
        self._items.clear()
        self._send = _closed
        self._backfill = _nothing
        self._on_overflow = None
        self._unpark = None
        self._token_floor = None
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        room, self._room = self._room, None
        if room is not None and not room.done():
            room.set_result(None)

    def skip_tokens_through(self, message_id: str, index: int) -> None:
        """After a resume replayed a partial reply up to ``index``, drop live tokens of it up to there.

        Checked on the frame's text prefix, so no token is parsed as JSON on this path.
        """
        self._token_floor = (token_prefix(message_id), index)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(None)
        elif self._unpark is not None:
            unpark, self._unpark = self._unpark, None
            unpark()

    @property
    def waiting(self) -> bool:
        """The sender is blocked on an empty queue (not in the middle of a send)."""
        return self._waiter is not None and not self._waiter.done() and not self._items

    def parked(self, restart: Callable[[], None]) -> None:
        """The caller cancelled the idle sender task; the next frame calls ``restart`` to start a new one.

        An idle socket then holds no task and no coroutine frames, only its queue.
        """
        self._waiter = None
        self._unpark = restart

    async def room(self) -> None:
        """Wait until the queue is at most half full: a long replay must not overflow a socket that keeps up."""
        while len(self._items) > self._max // 2 and not self.overflowed:
            self._room = asyncio.get_running_loop().create_future()
            await self._room

    async def send_now(self, frame: bytes | str) -> None:
        await self._send(frame if isinstance(frame, str) else frame.decode())

    async def catch_up(self, until_seq: int | None = None) -> None:
        for message in await self._backfill(self.last_seq, until_seq):
            if message.seq > self.last_seq:
                self.last_seq = message.seq
                await self._send(encode(message_frame(message)).decode())

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
            if self._room is not None and len(items) <= self._max // 2:
                self._room.set_result(None)
                self._room = None
            if seq == RESYNC:
                await self.catch_up()
                continue
            if seq > 0:
                if seq <= self.last_seq:
                    continue
                if seq > self.last_seq + 1:
                    await self.catch_up(seq - 1)
                self.last_seq = seq
            elif self._token_floor is not None and self._below_floor(frame):
                continue
            await self._send(frame)

    def _below_floor(self, frame: str) -> bool:
        assert self._token_floor is not None
        prefix, floor = self._token_floor
        index = token_index(frame, prefix)
        if index is None:
            return False
        if index <= floor:
            return True
        self._token_floor = None  # the stream moved past what was replayed: nothing more to drop
        return False
