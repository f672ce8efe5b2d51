"""Any OpenAI-compatible chat-completions API that streams (OpenAI, vLLM, Ollama, llama.cpp server).

The response is read with aiohttp's stream reader and decoded by ``SSEDecoder``. Cancelling the
consuming task closes the response's connection, which aborts the upstream generation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from hub.ai.base import AIError, AIProvider, Cited, Delta, Passage, PersonWanted, ReplyRequest
from hub.ai.prompt import chat_messages, cited
from hub.ai.sse import SSEDecoder, SSEError
from hub.settings import Settings


class OpenAIProvider(AIProvider):
    name = "openai"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        timeout = settings.openai_timeout_s
        self.url = f"{settings.openai_base_url}/chat/completions"
        self.headers = {"Authorization": f"Bearer {settings.openai_api_key}"} if settings.openai_api_key else {}
        self.timeout = aiohttp.ClientTimeout(total=None, connect=min(timeout, 10.0), sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        # One streaming reply holds one connection for its whole length, so the pool has no cap
        # (``limit=0``): a cap would make the reply after it wait and then fail.
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self.timeout, headers=self.headers, json_serialize=_dumps
            )
        return self._session

    def payload(self, request: ReplyRequest) -> tuple[dict[str, Any], tuple[Passage, ...]]:
        """The request body, and the passages its system message numbers. The messages are built by
        ``hub.ai.prompt`` (persona, facts, passages, history, within ``HUB_AI_PROMPT_TOKENS``)."""
        messages, passages = chat_messages(request, self.settings.ai_prompt_tokens)
        body = {
            "model": self.settings.openai_model,
            "messages": messages,
            "stream": True,
            "tools": [REQUEST_HUMAN],
            "tool_choice": "auto",
        }
        return body, passages

    async def stream(self, request: ReplyRequest) -> AsyncIterator[Delta]:
        response: aiohttp.ClientResponse | None = None
        finished = False
        calls = ToolCalls()
        sent, passages = self.payload(request)
        said: list[str] = []
        try:
            response = await self.session.post(self.url, json=sent)
            if response.status != 200:
                body = (await response.content.read(200)).decode(errors="replace")
                raise AIError(f"upstream answered HTTP {response.status}: {body}")
            decoder = SSEDecoder()
            async for chunk in response.content.iter_any():
                for data in decoder.feed(chunk):
                    if data.strip() == "[DONE]":
                        finished = True
                        break
                    content = _delta(data, calls)
                    if content:
                        said.append(content)
                        yield content
                if finished:
                    break
            finished = True
            if sources := cited("".join(said), passages):
                yield Cited(sources)
            for note in calls.person_wanted():
                yield PersonWanted(note)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise AIError(f"upstream timed out ({type(exc).__name__})") from exc
        except aiohttp.ClientError as exc:
            raise AIError(f"upstream failed ({type(exc).__name__}: {exc})") from exc
        except UnicodeDecodeError as exc:
            raise AIError("upstream sent bytes that are not UTF-8") from exc
        except SSEError as exc:
            raise AIError(f"upstream stream is not server-sent events: {exc}") from exc
        finally:
            if response is not None:
                if finished:
                    response.release()  # the connection goes back to the pool for the next reply
                else:
                    response.close()  # cancelled or failed mid-stream: hang up, so the upstream stops

    async def health(self) -> dict[str, object]:
        return {"ok": True, "provider": self.name, "base_url": self.settings.openai_base_url}

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            await asyncio.sleep(0)  # lets aiohttp's transports finish closing before the loop goes


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# The one tool the model is offered: hand the visitor to a person (the hub records it, alerts the team and
# tells the visitor); OpenAI-compatible servers stream its call in pieces, assembled by ToolCalls.
REQUEST_HUMAN: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "request_human",
        "description": "Hand this conversation to a person from the team: when the visitor asks for a person, "
        "when they are upset, or when you cannot help. Tell the visitor in your reply that a person will join.",
        "parameters": {
            "type": "object",
            "properties": {"reason": {"type": "string", "description": "Why, in a few words."}},
            "required": [],
        },
    },
}


class ToolCalls:
    """Tool calls as a stream sends them: an ``index`` each, the name first, the arguments in pieces."""

    def __init__(self) -> None:
        self._calls: dict[int, list[str]] = {}  # index -> [name, arguments so far]

    def feed(self, pieces: Any) -> None:
        if not isinstance(pieces, list):
            return
        for piece in pieces:
            if not isinstance(piece, dict):
                continue
            index = piece.get("index", 0)
            call = self._calls.setdefault(index if isinstance(index, int) else 0, ["", ""])
            function = piece.get("function") or {}
            if isinstance(function, dict):
                if isinstance(function.get("name"), str):
                    call[0] = function["name"]
                if isinstance(function.get("arguments"), str):
                    call[1] += function["arguments"]

    def person_wanted(self) -> list[str | None]:
        """The reason of each ``request_human`` call (None when its arguments say none, or are not JSON)."""
        notes: list[str | None] = []
        for name, arguments in self._calls.values():
            if name != "request_human":
                continue
            try:
                parsed = orjson.loads(arguments or "{}")
            except orjson.JSONDecodeError:
                parsed = {}
            reason = parsed.get("reason") if isinstance(parsed, dict) else None
            notes.append(str(reason)[:200] if reason else None)
        return notes[:1]  # one request is one handoff


def _delta(data: str, calls: ToolCalls) -> str:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise AIError("upstream sent a chunk that is not JSON") from exc
    if not isinstance(chunk, dict):
        raise AIError("upstream chunk has an unexpected shape")
    if "error" in chunk:
        raise AIError(f"upstream error: {str(chunk['error'])[:200]}")
    try:
        choices = chunk.get("choices") or []
        if not choices:
            return ""
        delta = choices[0].get("delta") or {}
        calls.feed(delta.get("tool_calls"))
        content = delta.get("content")
    except (AttributeError, TypeError) as exc:
        raise AIError("upstream chunk has an unexpected shape") from exc
    return content if isinstance(content, str) else ""
