"""Server-sent events, decoded line by line as the HTML spec says (only what a chat stream uses).

Not httpx-sse: that decoder is tied to httpx, whose per-read overhead (anyio timeouts around every
read) cost about 110 µs of CPU per token more than aiohttp's stream reader (docs/PERFORMANCE.md).
"""

from __future__ import annotations


class SSEDecoder:
    """Feed it lines; it returns an event's ``data`` when the blank line that ends the event arrives."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: list[str] = []

    def line(self, raw: bytes) -> str | None:
        text = raw.decode("utf-8").rstrip("\r\n")
        if not text:
            if not self._data:
                return None
            data, self._data = "\n".join(self._data), []
            return data
        if text.startswith(":"):
            return None  # a comment, e.g. a keepalive
        field, _, value = text.partition(":")
        if field == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        # event, id and retry carry nothing a chat-completions stream needs
        return None
