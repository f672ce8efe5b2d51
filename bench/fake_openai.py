"""A local OpenAI-compatible streaming server whose tokens carry the time they were sent.

Each token's text is `` <k>:<time_ns>``, written at a steady rate per stream, so a client that
receives the hub's ``token`` frame knows exactly how long the hub took from upstream to socket,
without any hook in the hub. The last user message may say ``tokens=N`` to set the reply length.

Run as ``python -m bench.fake_openai --port P`` (the bench does); ``GET /stats`` answers with how
many streams ran, how many at once at most, and how many tokens went out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import time

import orjson

import bench

TOKENS_ASKED = re.compile(r"tokens=(\d+)")


class Provider:
    """Serves ``POST /v1/chat/completions`` (SSE, chunked) and ``GET /stats`` over plain asyncio streams."""

    def __init__(self, rate: float, default_tokens: int) -> None:
        self.interval = 1.0 / rate
        self.default_tokens = default_tokens
        self.active = 0
        self.max_active = 0
        self.streams = 0
        self.tokens = 0
        self.late_ticks = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: httpx reuses the connection for the next reply
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request_line, _, rest = head.decode("latin-1").partition("\r\n")
                length = 0
                for line in rest.split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                if request_line.startswith("GET /stats"):
                    await self._stats(writer)
                elif request_line.startswith("POST ") and "/chat/completions" in request_line:
                    await self._stream(writer, body)
                else:
                    writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _stats(self, writer: asyncio.StreamWriter) -> None:
        body = orjson.dumps(
            {
                "streams": self.streams,
                "active": self.active,
                "max_active": self.max_active,
                "tokens": self.tokens,
                "late_ticks": self.late_ticks,
            }
        )
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body))
        writer.write(body)
        await writer.drain()

    def _reply_length(self, body: bytes) -> int:
        try:
            messages = orjson.loads(body).get("messages") or []
        except orjson.JSONDecodeError:
            return self.default_tokens
        for message in reversed(messages):
            if message.get("role") == "user":
                found = TOKENS_ASKED.search(str(message.get("content", "")))
                return int(found.group(1)) if found else self.default_tokens
        return self.default_tokens

    async def _stream(self, writer: asyncio.StreamWriter, body: bytes) -> None:
        count = self._reply_length(body)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        loop = asyncio.get_running_loop()
        self.streams += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            start = loop.time()
            for k in range(count):
                # A fixed schedule (not sleep-after-send) keeps the rate exact whatever the loop's jitter.
                delay = start + k * self.interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -self.interval:
                    self.late_ticks += 1
                if writer.transport.is_closing():
                    return  # the hub stopped reading this reply (an agent took over): uvloop refuses the write
                event = b'data: {"choices":[{"index":0,"delta":{"content":" %d:%d"}}]}\n\n' % (k, time.time_ns())
                writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.tokens += 1
                if writer.transport.get_write_buffer_size() > 65536:
                    await writer.drain()
            done = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
            writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
            await writer.drain()
        finally:
            self.active -= 1


async def serve(host: str, port: int, rate: float, default_tokens: int) -> None:
    provider = Provider(rate, default_tokens)
    server = await asyncio.start_server(provider.handle, host, port, backlog=1024)
    print(f"listening {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="OpenAI-compatible SSE server stamping each token with time_ns")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=20.0, help="tokens per second per stream")
    parser.add_argument("--tokens", type=int, default=100, help="reply length when the prompt does not say")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        bench.run(serve(args.host, args.port, args.rate, args.tokens))


if __name__ == "__main__":
    main()
