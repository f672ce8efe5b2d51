"""The node's one subscriber connection to Redis, spoken directly with hiredis.

Every frame a node receives from another node comes through here, so the per-message path is kept
to parsing and a call: reads take whatever bytes arrived, hiredis parses every reply in them, and
each ``message`` push goes to the handler. Measured against redis-py's ``PubSub.get_message``: under
1 µs instead of about 14 µs of CPU per message (its push-message layers ran for each one).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

from hiredis import Reader, ReplyError, pack_command
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection

READ_SIZE = 256 * 1024


class Subscription:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = Reader()

    @classmethod
    async def open(cls, options: Mapping[str, Any], timeout_s: float) -> Subscription:
        """Connect and authenticate as ``options`` say: redis-py's ``parse_url`` of a ``redis://``,
        ``rediss://`` or ``unix://`` URL, or the master Sentinel names (``RedisTarget.master_options``)."""
        options = dict(options)
        kind = options.pop("connection_class", None)
        async with asyncio.timeout(timeout_s):
            if kind is UnixDomainSocketConnection:
                reader, writer = await asyncio.open_unix_connection(options["path"], limit=READ_SIZE)
            else:
                context = _ssl_context(options) if kind is SSLConnection else None
                reader, writer = await asyncio.open_connection(
                    options.get("host", "localhost"), options.get("port", 6379), ssl=context, limit=READ_SIZE
                )
            subscription = cls(reader, writer)
            password = options.get("password")
            if password:
                username = options.get("username")
                subscription._send((b"AUTH", username, password) if username else (b"AUTH", password))
                replies = await subscription.read()
                if not replies or isinstance(replies[0], ReplyError):
                    await subscription.close()
                    raise ConnectionError(f"redis refused the subscriber's AUTH: {replies[0] if replies else 'EOF'}")
        return subscription

    def _send(self, command: tuple[Any, ...]) -> None:
        self._writer.write(pack_command(command))

    def subscribe(self, *channels: str) -> None:
        if channels:
            self._send((b"SUBSCRIBE", *channels))

    def unsubscribe(self, channel: str) -> None:
        self._send((b"UNSUBSCRIBE", channel))

    async def read(self) -> list[Any]:
        """The replies in the next bytes to arrive (at least one byte; EOF raises ConnectionError)."""
        data = await self._reader.read(READ_SIZE)
        if not data:
            raise ConnectionError("redis closed the subscriber connection")
        self._parser.feed(data)
        replies: list[Any] = []
        while (reply := self._parser.gets()) is not False:
            replies.append(reply)
        return replies

    async def close(self) -> None:
        self._writer.close()
        try:
            async with asyncio.timeout(1):
                await self._writer.wait_closed()
        except Exception:  # a dead connection may fail to close in many ways; it is gone either way
            pass


def _ssl_context(options: dict[str, Any]) -> ssl.SSLContext:
    """The context redis-py's own connections use for this URL: its ``ssl_*`` options, its defaults.

    Built by redis-py's ``SSLConnection`` from the same keyword arguments its connection pools get, so
    a private CA (``ssl_ca_certs``), a client certificate or ``ssl_cert_reqs=none`` means the same to
    the subscriber as to the publisher, the throttle and the coordinator. Nothing connects here.
    """
    return SSLConnection(**options).ssl_context.get()
