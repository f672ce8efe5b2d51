"""Reading JSON request bodies with the limits and errors every endpoint shares."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from hub.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

MAX_BODY_BYTES = 64 * 1024


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
    return data


def string_field(body: dict[str, Any], name: str, *, max_len: int, required: bool = True) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise InvalidInput(f"'{name}' must be a non-empty string")
    if len(value) > max_len:
        raise PayloadTooLarge(f"'{name}' is longer than {max_len} characters")
    return value
