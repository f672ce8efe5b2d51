"""Reading JSON request bodies with the limits and errors every endpoint shares."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from hub.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

MAX_BODY_BYTES = 64 * 1024
MAX_SEQ = 2**63 - 1  # the store's BIGINT


async def read_json(request: Request, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"body is larger than {max_bytes} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"body is larger than {max_bytes} bytes")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidInput("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("body must be a JSON object")
    if b"\\u0000" in body and _holds_nul(data):
        raise InvalidInput("strings in the body must not contain NUL (\\u0000)")
    return data


def _holds_nul(data: object) -> bool:
    """PostgreSQL text cannot hold NUL; without this check such a string would become a 500 there."""
    pending = [data]
    while pending:  # not recursive: JSON may nest deeper than Python's recursion limit
        value = pending.pop()
        if isinstance(value, str) and "\x00" in value:
            return True
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def text_param(value: str, name: str) -> str:
    """A path or query value that reaches the store: no NUL, as for body strings."""
    if "\x00" in value:
        raise InvalidInput(f"'{name}' must not contain NUL characters")
    return value


def seq_param(raw: str, name: str) -> int:
    """A non-negative ``seq`` from a query string: ASCII digits only ("²".isdigit() is true) and in range."""
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_SEQ:
        raise InvalidInput(f"{name} must be a non-negative integer")
    return int(raw)


def string_field(body: dict[str, Any], name: str, *, max_len: int, required: bool = True) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise InvalidInput(f"'{name}' must be a non-empty string")
    if len(value) > max_len:
        raise PayloadTooLarge(f"'{name}' is longer than {max_len} characters")
    return value
