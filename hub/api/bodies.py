"""JSON in and out of every HTTP endpoint, through the typed models.

``read_body`` decodes and checks a request body against its msgspec Struct in one call (content
type, size, JSON, the model's limits, no NUL anywhere); ``read_query`` and ``read_path`` do the same
for parameters; ``StructResponse`` encodes a model as the answer. Every refusal is a ``HubError``,
which ``hub.api.errors`` turns into the one error shape.

A limit stated in a model is a 400 ``invalid_input`` (the message names the field); only the size of
the body and the length of a chat ``message`` (both settings) are a 413 ``too_large``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from hub.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

Model = TypeVar("Model", bound=msgspec.Struct)


async def read_body(request: Request, model: type[Model], max_bytes: int, *, optional: bool = False) -> Model:
    """The body as ``model``. ``optional``: no body at all (or an empty one) is the model's defaults."""
    if not optional:
        _check_content_type(request)
    body = await read_limited(request, max_bytes)
    if optional:
        if not body:
            return model()
        _check_content_type(request)
    return decode_body(body, model)


def decode_body(body: bytes, model: type[Model]) -> Model:
    try:
        value = msgspec.json.decode(body, type=model)
    except msgspec.ValidationError as exc:
        raise InvalidInput(field_message(exc)) from None
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        raise InvalidInput("body is not valid JSON") from None
    if b"\\u0000" in body and _holds_nul(msgspec.json.decode(body)):
        raise InvalidInput("strings in the body must not contain NUL (\\u0000)")
    return value


def field_message(error: msgspec.ValidationError) -> str:
    """msgspec's message, led by the field it is about: "'owner.password': expected `str` of length >= 8"."""
    found = _AT.match(str(error))
    what, where = (found["what"], found["where"]) if found else (str(error), "")
    if missing := _MISSING.match(what):
        return f"'{where + '.' if where else ''}{missing['field']}' is required"
    return f"'{where}': {what[:1].lower()}{what[1:]}" if where else f"the body: {what[:1].lower()}{what[1:]}"


_AT = re.compile(r"^(?P<what>.*) - at `\$\.?(?P<where>[^`]*)`$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")


def _check_content_type(request: Request) -> None:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")


async def read_limited(request: Request, max_bytes: int) -> bytes:
    """The raw body, ``PayloadTooLarge`` past ``max_bytes`` (declared or sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"body is larger than {max_bytes} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"body is larger than {max_bytes} bytes")
    return body


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


def read_query(request: Request, model: type[Model]) -> Model:
    return _read_parameters(request.query_params, model)


def read_path(request: Request, model: type[Model]) -> Model:
    return _read_parameters(request.path_params, model)


def _read_parameters(given: Mapping[str, Any], model: type[Model]) -> Model:
    """Text parameters as ``model``: no NUL (as in bodies); integers in ASCII digits only ("²".isdigit() is
    true, and msgspec would also take "1e3"); unknown names ignored."""
    values: dict[str, Any] = {}
    for name, is_integer in _parameter_fields(model):
        raw = given.get(name)
        if raw is None:
            continue
        if "\x00" in raw:
            raise InvalidInput(f"'{name}' must not contain NUL characters")
        values[name] = int(raw) if is_integer and raw.isascii() and raw.isdigit() else raw
    try:
        return msgspec.convert(values, model)
    except msgspec.ValidationError as exc:
        raise InvalidInput(field_message(exc)) from None


@cache
def _parameter_fields(model: type[msgspec.Struct]) -> tuple[tuple[str, bool], ...]:
    info = msgspec.inspect.type_info(model)
    assert isinstance(info, msgspec.inspect.StructType)
    return tuple((field.encode_name, _is_integer(field.type)) for field in info.fields)


def _is_integer(kind: msgspec.inspect.Type) -> bool:
    while isinstance(kind, msgspec.inspect.Metadata):  # Annotated[int, Meta(...)]
        kind = kind.type
    return isinstance(kind, msgspec.inspect.IntType)


class StructResponse(Response):
    """A model encoded as JSON (``application/json``, as Starlette's JSONResponse)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return msgspec.json.encode(content)
