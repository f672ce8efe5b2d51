"""A local stand-in for an OpenAI-compatible ``POST /v1/chat/completions`` that streams.

It is a plain asyncio server, so a test owns every byte on the wire: it can stream tokens with a
delay, answer HTTP 500, cut the connection mid-stream, send garbage or an in-stream error, or stall.
It records each request (headers and JSON body) and notices when the client hangs up before the
response is complete, which is how tests prove that cancelling a reply aborts the upstream request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

DEFAULT_TOKENS = ("Hello", " from", " the", " model", ".")


@dataclass
class Behaviour:
    """How the next responses go; a test swaps ``FakeOpenAI.behaviour`` whenever it likes."""

    tokens: tuple[str, ...] = DEFAULT_TOKENS
    delay_s: float = 0.0
    status: int = 200  # anything else: answer with that status and an OpenAI-style JSON error body
    drop_after: int | None = None  # close the connection (no chunk terminator) after this many tokens
    garbage_after: int | None = None  # send a data line that is not JSON after this many tokens
    error_after: int | None = None  # send an in-stream {"error": ...} chunk after this many tokens
    stall_after: int | None = None  # send nothing more after this many tokens, until the client leaves
    endless_line_after: int | None = None  # then one data line that never ends (bytes keep coming)
    send_done: bool = True
    # After the tokens, a call of this tool streamed as OpenAI does (name first, arguments in pieces).
    tool_call: tuple[str, str] | None = None  # (function name, arguments JSON)


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]
    tokens_sent: int = 0
    finished: bool = False  # the server sent the whole response
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)  # client left before that

    @property
    def messages(self) -> list[dict[str, str]]:
        messages: list[dict[str, str]] = self.body["messages"]
        return messages


class FakeOpenAI:
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.requests: list[ReceivedRequest] = []
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._arrived = asyncio.Condition()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connection, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in tuple(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def request(self, number: int = 1, timeout: float = 5.0) -> ReceivedRequest:
        """The ``number``-th request (1-based), waiting for it to arrive."""

        async def arrived() -> None:
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.requests) >= number)

        await asyncio.wait_for(arrived(), timeout)
        return self.requests[number - 1]

    def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        watcher: asyncio.Task[None] | None = None
        try:
            request = await _read_request(reader)
            if request is None:
                return
            self.requests.append(request)
            async with self._arrived:
                self._arrived.notify_all()
            watcher = asyncio.create_task(_watch_hangup(reader, request))
            await self._respond(writer, request, self.behaviour)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _respond(self, writer: asyncio.StreamWriter, request: ReceivedRequest, behaviour: Behaviour) -> None:
        if behaviour.status != 200:
            body = orjson.dumps({"error": {"message": "the fake upstream failed on purpose", "type": "server_error"}})
            writer.write(
                b"HTTP/1.1 %d Fake Failure\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n%s" % (behaviour.status, len(body), body)
            )
            await writer.drain()
            request.finished = True
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        model = str(request.body.get("model", "fake"))
        await _event(writer, _chunk(model, {"role": "assistant", "content": ""}))
        for position, token in enumerate(behaviour.tokens):
            if position == behaviour.drop_after:
                return  # the caller closes the socket: the chunked body never ends
            if position == behaviour.stall_after:
                await request.disconnected.wait()
                return
            if position == behaviour.garbage_after:
                await _event(writer, b"this is not json")
            if position == behaviour.endless_line_after:
                # Steady bytes, so no read timeout can end it: only a limit on the line length can.
                piece = b"data: " + b"x" * (64 << 10)
                with contextlib.suppress(ConnectionError):
                    while not request.disconnected.is_set():
                        await _http_chunk(writer, piece)
                        await asyncio.sleep(0.01)
                return
            if position == behaviour.error_after:
                await _event(writer, orjson.dumps({"error": {"message": "overloaded", "type": "server_error"}}))
            if behaviour.delay_s:
                await asyncio.sleep(behaviour.delay_s)
            if request.disconnected.is_set():
                return
            await _event(writer, _chunk(model, {"content": token}))
            request.tokens_sent += 1
        if behaviour.stall_after is not None and behaviour.stall_after >= len(behaviour.tokens):
            await request.disconnected.wait()
            return
        if behaviour.drop_after is not None and behaviour.drop_after >= len(behaviour.tokens):
            return
        if behaviour.tool_call is not None:
            name, arguments = behaviour.tool_call
            first = {"index": 0, "id": "call_fake", "type": "function", "function": {"name": name, "arguments": ""}}
            await _event(writer, _chunk(model, {"tool_calls": [first]}))
            for start in range(0, len(arguments), 7):  # the arguments in pieces, as real servers send them
                piece = {"index": 0, "function": {"arguments": arguments[start : start + 7]}}
                await _event(writer, _chunk(model, {"tool_calls": [piece]}))
        finish = "tool_calls" if behaviour.tool_call is not None else "stop"
        await _event(writer, _chunk(model, {}, finish_reason=finish))
        if behaviour.send_done:
            await _event(writer, b"[DONE]")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        request.finished = True


def _chunk(model: str, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
    )


async def _event(writer: asyncio.StreamWriter, data: bytes) -> None:
    """One SSE event as one HTTP chunk."""
    await _http_chunk(writer, b"data: " + data + b"\n\n")


async def _http_chunk(writer: asyncio.StreamWriter, payload: bytes) -> None:
    writer.write(b"%x\r\n%s\r\n" % (len(payload), payload))
    await writer.drain()


async def _read_request(reader: asyncio.StreamReader) -> ReceivedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    raw = await reader.readexactly(int(headers.get("content-length", "0")))
    body: dict[str, Any] = orjson.loads(raw) if raw else {}
    return ReceivedRequest(method=method, path=path, headers=headers, body=body)


async def _watch_hangup(reader: asyncio.StreamReader, request: ReceivedRequest) -> None:
    """The client sends nothing after its request: end of stream means it hung up."""
    with contextlib.suppress(ConnectionError, OSError):
        while await reader.read(1024):
            pass
    if not request.finished:
        request.disconnected.set()


@contextlib.asynccontextmanager
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
