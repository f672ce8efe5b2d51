"""Any OpenAI-compatible chat-completions API that streams (OpenAI, vLLM, Ollama, llama.cpp server).

The SSE stream is parsed by httpx-sse; cancelling the consuming task leaves both ``async with``
blocks, which closes the HTTP response and so aborts the upstream generation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from httpx_sse import SSEError, aconnect_sse

from hub.ai.base import AIError, AIProvider, ReplyRequest
from hub.settings import Settings

ROLE_MAP = {"visitor": "user", "ai": "assistant", "agent": "assistant"}


class OpenAIProvider(AIProvider):
    name = "openai"
    history_turns = 20

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        timeout = settings.openai_timeout_s
        self.client = httpx.AsyncClient(
            base_url=settings.openai_base_url,
            timeout=httpx.Timeout(connect=min(timeout, 10.0), read=timeout, write=10.0, pool=10.0),
            # One streaming reply holds one connection for its whole length: httpx's default pool of 100
            # would make reply 101 wait and then fail, so the pool grows with the replies in flight.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
            headers={"Authorization": f"Bearer {settings.openai_api_key}"} if settings.openai_api_key else {},
        )

    def payload(self, request: ReplyRequest) -> dict[str, Any]:
        messages: list[dict[str, str]] = [{"role": "system", "content": request.system_prompt}]
        # Stored "system" turns are hub notices (e.g. "the AI could not answer"), not instructions: sent as
        # system messages they would steer the model, and strict chat templates reject a second system turn.
        turns = [turn for turn in request.history if turn.role != "system"]
        for turn in turns[-self.history_turns :]:
            messages.append({"role": ROLE_MAP.get(turn.role, "user"), "content": turn.text})
        return {"model": self.settings.openai_model, "messages": messages, "stream": True}

    async def stream(self, request: ReplyRequest) -> AsyncIterator[str]:
        try:
            async with aconnect_sse(self.client, "POST", "/chat/completions", json=self.payload(request)) as source:
                response = source.response
                if response.status_code != 200:
                    body = (await response.aread())[:200].decode(errors="replace")
                    raise AIError(f"upstream answered HTTP {response.status_code}: {body}")
                async for event in source.aiter_sse():
                    if event.data.strip() == "[DONE]":
                        return
                    delta = _delta(event.data)
                    if delta:
                        yield delta
        except httpx.TimeoutException as exc:
            raise AIError(f"upstream timed out ({type(exc).__name__})") from exc
        except (httpx.HTTPError, SSEError) as exc:
            raise AIError(f"upstream failed ({type(exc).__name__}: {exc})") from exc

    async def health(self) -> dict[str, object]:
        return {"ok": True, "provider": self.name, "base_url": self.settings.openai_base_url}

    async def aclose(self) -> None:
        await self.client.aclose()


def _delta(data: str) -> str:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise AIError("upstream sent a chunk that is not JSON") from exc
    if "error" in chunk:
        raise AIError(f"upstream error: {str(chunk['error'])[:200]}")
    try:
        choices = chunk.get("choices") or []
        if not choices:
            return ""
        content = (choices[0].get("delta") or {}).get("content")
    except (AttributeError, TypeError) as exc:
        raise AIError("upstream chunk has an unexpected shape") from exc
    return content if isinstance(content, str) else ""
