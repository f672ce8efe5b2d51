"""Joining a session's live frames with no gap and no repeat: what a socket gets before the live ones.

Visitors (connecting or resuming) and agents (watching) join the same way: the feed hears the
session's channel first, so live frames queue in it meanwhile; then the stored messages after the
client's ``last_seq`` are read, then the AI reply streaming right now (from the shared buffer,
unless it is stored already). The caller sends that backlog before it starts the feed's sender, and
the feed's seq check and token floor drop whatever of the backlog also arrived live.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.broker.base import Broker
from hub.chat.fanout import Fanout, Listener
from hub.chat.feed import Feed
from hub.keys import Keys
from hub.protocol import Token, encode, message_frame
from hub.store.models import SessionState, StoredMessage
from hub.store.transcript import get_session, messages_after


@dataclass(frozen=True)
class Backlog:
    state: SessionState | None  # None: nothing is stored for this session yet
    seq: int  # where the client stands once the backlog is sent
    messages: list[StoredMessage]
    reply_id: str | None  # the AI reply streaming now, and its tokens so far
    tokens: list[bytes]

    async def send(self, feed: Feed, send: Callable[[bytes], Awaitable[None]]) -> None:
        for message in self.messages:
            await send(encode(message_frame(message)))
            feed.last_seq = message.seq
        if self.reply_id is not None:
            for token in self.tokens:
                await send(token)
            feed.skip_tokens_through(self.reply_id, len(self.tokens) - 1)


class Joiner:
    def __init__(self, engine: AsyncEngine, fanout: Fanout, buffers: Broker, keys: Keys) -> None:
        self.engine = engine
        self.fanout = fanout
        self.buffers = buffers
        self.keys = keys

    async def transcript_after(
        self, tenant_id: str, session_id: str, after_seq: int, until_seq: int | None = None
    ) -> list[StoredMessage]:
        """What a session's feed reads to fill a gap (``Feed``'s backfill)."""
        return await messages_after(self.engine, tenant_id, session_id, after_seq, until_seq=until_seq)

    async def join(self, feed: Feed, tenant_id: str, session_id: str, last_seq: int) -> Backlog:
        state = await get_session(self.engine, tenant_id, session_id)
        # A client cannot have seen more than the session holds; trusting a larger last_seq would hide messages.
        feed.last_seq = min(last_seq, state.last_seq if state is not None else 0)
        await self.fanout.join(self.keys.session_channel(tenant_id, session_id), feed)
        messages = await messages_after(self.engine, tenant_id, session_id, feed.last_seq)
        reply_id, tokens = await self._reply_streaming(tenant_id, session_id, {message.id for message in messages})
        seq = messages[-1].seq if messages else feed.last_seq
        return Backlog(state, seq, messages, reply_id, tokens)

    async def listen(self, listener: Listener, tenant_id: str, session_id: str) -> None:
        """Hear a session's live frames with no backlog (one HTTP turn)."""
        await self.fanout.join(self.keys.session_channel(tenant_id, session_id), listener)

    async def leave(self, listener: Listener, tenant_id: str, session_id: str) -> None:
        await self.fanout.leave(self.keys.session_channel(tenant_id, session_id), listener)

    async def _reply_streaming(
        self, tenant_id: str, session_id: str, stored: set[str]
    ) -> tuple[str | None, list[bytes]]:
        """The streaming reply's id and its token frames so far, unless it is already stored in full."""
        buffer = await self.buffers.buffer_read(self.keys.stream_buffer(tenant_id, session_id))
        if not buffer:
            return None, []
        message_id = buffer[0].decode()
        if message_id in stored:
            return None, []
        tokens = [
            encode(Token(message_id=message_id, index=index, text=token.decode()))
            for index, token in enumerate(buffer[1:])
        ]
        return message_id, tokens
