"""Slow or dead clients never slow the others; a socket that cannot keep up is closed and can resume."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from datetime import UTC, datetime

import pytest

from hub.chat.feed import Feed, SlowConsumer
from hub.settings import Settings
from hub.store.models import StoredMessage
from tests.conftest import serve_hub, visitor


def stored(seq: int) -> StoredMessage:
    return StoredMessage(
        id=f"m{seq}",
        tenant_id="t",
        session_id="s",
        seq=seq,
        role="visitor",
        text=f"text {seq}",
        client_id=None,
        created_at=datetime.now(UTC),
    )


async def test_feed_drops_duplicates_and_fills_gaps_from_the_store() -> None:
    sent: list[str] = []
    asked: list[tuple[int, int | None]] = []

    async def send(frame: str) -> None:
        sent.append(frame)

    async def backfill(after: int, until: int | None) -> list[StoredMessage]:
        asked.append((after, until))
        return [stored(seq) for seq in range(after + 1, (until or 5) + 1)]

    feed = Feed(send, backfill, max_frames=100)
    runner = asyncio.create_task(feed.run())
    feed.deliver(1, "one")
    feed.deliver(1, "one again")
    feed.deliver(4, "four")
    feed.deliver(3, "three, late")
    feed.deliver(0, "token")
    await asyncio.sleep(0.05)
    runner.cancel()
    assert asked == [(1, 3)]
    assert sent[0] == "one" and '"seq":2' in sent[1] and '"seq":3' in sent[2]
    assert sent[3:] == ["four", "token"]
    assert feed.last_seq == 4


async def test_feed_that_overflows_stops_with_slow_consumer() -> None:
    release = asyncio.Event()

    async def blocked_send(frame: str) -> None:
        await release.wait()

    async def backfill(after: int, until: int | None) -> list[StoredMessage]:
        return []

    feed = Feed(blocked_send, backfill, max_frames=16)
    runner = asyncio.create_task(feed.run())
    for n in range(40):
        feed.deliver(0, f"frame {n}")
    release.set()
    with pytest.raises(SlowConsumer):
        await asyncio.wait_for(runner, 2)


async def stalled_visitor(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket client that completes the handshake and then never reads again.

    A raw stream keeps the test honest: its transport stops reading once its small buffer is full,
    exactly as a frozen browser tab's TCP window closes.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=4096)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    return reader, writer


async def test_socket_that_stops_reading_is_closed_with_4408_and_others_keep_flowing(settings: Settings) -> None:
    quick = settings.with_overrides(
        send_queue_frames=16,
        ai_provider="none",
        ws_ping_interval_s=0,
        max_message_chars=60_000,
        # The writer sends 200 messages as fast as it can: no visitor does, and the limits are not the subject.
        rate_limit_socket="1000/minute",
        rate_limit_socket_frames="1000/minute",
        rate_limit_session="1000/minute",
        rate_limit_address="1000/minute",
    )
    async with serve_hub(quick) as hub:
        tenant = await hub.tenant()
        async with visitor(hub.ws, tenant.id) as writer:
            query = f"session_id={writer.ready['session_id']}&resume_token={writer.ready['resume_token']}&last_seq=0"
            _reader, stream = await stalled_visitor(hub.port, f"/ws/visitor/{tenant.id}?{query}")
            payload = "z" * 50_000  # 200 of these are more than the kernel buffers hold
            seen: list[int] = []
            for batch in range(10):
                for n in range(batch * 20, batch * 20 + 20):
                    await writer.say(f"{n} {payload}", client_id=f"bulk-{n}")
                frames = await writer.until(lambda f, last=batch * 20 + 20: f.get("seq") == last)
                seen += [f["seq"] for f in frames if f["type"] == "message"]
            # The writer's own socket got every frame, in order, while the other one is stuck.
            assert seen == list(range(1, 201))
            # The stalled socket was cut off from the feed (its queue overflowed) and is being closed with 4408;
            # the close frame waits behind the bytes it never read.
            stalled = [c for c in hub.node.sockets if getattr(c, "feed", None) and c.feed.overflowed]
            assert len(stalled) == 1
            assert stalled[0].sender is not None and stalled[0].sender.done()
            stream.close()
        # The slow visitor comes back, resumes from seq 0 and loses nothing.
        async with visitor(hub.ws, tenant.id, query=query) as back:
            replay = await back.until(lambda f: f.get("seq") == 200, timeout=30)
            assert [f["seq"] for f in replay if f["type"] == "message"] == list(range(1, 201))
