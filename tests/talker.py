"""A visitor that talks through faults the way the widget does, keeping everything it saw.

It sends one message at a time and counts it acknowledged when its own ``message`` frame (its
``client_id``) comes back. An ``error`` frame (``not_stored``, ``internal``, a rate limit) sends it again
with the same ``client_id`` after a pause; a closed socket reconnects to the same URL, resumes from the
last ``seq`` received and, once the replay is in (the ``ready`` frame says where it ends), sends again
only what the replay does not hold. So the hub's promises can be checked on what it saw: every ``seq``
once, in order, none missing (``assert_whole``).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import open_socket

# Error codes after which the widget sends the same message again (with its client_id).
RETRY_CODES = ("not_stored", "internal", "rate_limited")


class Talker:
    def __init__(self, url: str) -> None:
        """``url``: the visitor socket's URL (``ws://…/ws/visitor/<tenant uuid>``), the same for every reconnect."""
        self.url = url
        self.ready: dict[str, Any] = {}
        self.messages: list[dict[str, Any]] = []  # every message frame received, in order, across reconnects
        self.acked: dict[str, int] = {}  # client_id -> seq
        self.reconnects = 0  # sockets opened again after one closed
        self.failed_reconnects = 0  # attempts that failed (refused, or closed again before the replay was in)
        self._connection: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._errors = 0
        self._pending: tuple[str, str] | None = None  # (client_id, text) sent and not acknowledged yet
        self._sent: set[str] = set()
        self._resent: set[str] = set()  # client_ids sent more than once: their stored message may come back again

    @property
    def last_seq(self) -> int:
        return self.messages[-1]["seq"] if self.messages else 0

    @property
    def seqs(self) -> list[int]:
        return [message["seq"] for message in self.messages]

    async def connect(self, *, join: Talker | None = None) -> Talker:
        """A new session, or ``join`` another talker's session (another tab of the same visitor)."""
        await self._open(join.resume_query(0) if join is not None else "")
        return self

    def resume_query(self, last_seq: int) -> str:
        return f"?session_id={self.ready['session_id']}&resume_token={self.ready['resume_token']}&last_seq={last_seq}"

    async def _open(self, query: str) -> None:
        self._connection = await open_socket(self.url + query)
        self.ready = orjson.loads(await self._connection.recv())
        assert self.ready["type"] == "ready", self.ready
        self._reader = asyncio.create_task(self._read(self._connection))

    async def _read(self, connection: ClientConnection) -> None:
        try:
            async for raw in connection:
                frame = orjson.loads(raw)
                if frame["type"] == "message":
                    if frame["seq"] <= self.last_seq and frame.get("client_id") in self._resent:
                        continue  # the echo of a retry (PROTOCOL.md, "Idempotent retries"): not a new delivery
                    self.messages.append(frame)
                    if frame.get("client_id"):
                        self.acked.setdefault(frame["client_id"], frame["seq"])
                elif frame["type"] == "error" and frame["code"] in RETRY_CODES:
                    self._errors += 1
        except ConnectionClosed:
            pass

    @property
    def closed(self) -> bool:
        return self._reader is None or self._reader.done()

    async def _resume(self) -> None:
        """Reconnect from the last seq received; wait for the replay, then resend what it lacks."""
        await self._open(self.resume_query(self.last_seq))
        await self.wait_for_seq(self.ready["seq"])
        self.reconnects += 1
        if self._pending is not None and self._pending[0] not in self.acked:
            await self._send(*self._pending)

    async def _send(self, client_id: str, text: str) -> None:
        assert self._connection is not None
        if client_id in self._sent:
            self._resent.add(client_id)
        self._sent.add(client_id)
        frame = orjson.dumps({"type": "message", "text": text, "client_id": client_id}).decode()
        try:
            await self._connection.send(frame)
        except ConnectionClosed:
            pass  # the reader sees it end: the next turn of say() resumes

    async def say(self, text: str, timeout: float = 20.0) -> int:
        """Send one message and return its seq once acknowledged, through whatever fails meanwhile."""
        client_id = uuid.uuid4().hex
        self._pending = (client_id, text)
        errors = self._errors
        await self._send(client_id, text)
        async with asyncio.timeout(timeout):
            while client_id not in self.acked:
                if self.closed:
                    await asyncio.sleep(0.05)  # not in a tight loop while nothing answers
                    try:
                        await self._resume()
                    except (OSError, ConnectionClosed, TimeoutError, InvalidStatus):
                        self.failed_reconnects += 1
                        continue  # try again
                elif self._errors > errors:
                    errors = self._errors
                    await asyncio.sleep(0.2)
                    await self._send(client_id, text)
                else:
                    await asyncio.sleep(0.01)
        self._pending = None
        return self.acked[client_id]

    async def wait_for_seq(self, seq: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while self.last_seq < seq:
                if self.closed:
                    raise ConnectionError(f"socket closed at seq {self.last_seq}, waiting for {seq}")
                await asyncio.sleep(0.01)

    def assert_whole(self, up_to: int) -> None:
        """Every seq from 1 to ``up_to`` received once, in order, and each acknowledged message where it was stored."""
        assert self.seqs == list(range(1, up_to + 1)), f"seqs received: {self.seqs}"
        by_seq = {message["seq"]: message.get("client_id") for message in self.messages}
        for client_id, seq in self.acked.items():
            assert by_seq[seq] == client_id

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        if self._reader is not None:
            await self._reader
