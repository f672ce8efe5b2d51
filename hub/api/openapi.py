"""The OpenAPI 3.1 document, generated from the route table (``hub.api.routes``) and its models.

Schemas come from the msgspec Structs the handlers decode and encode
(``msgspec.json.schema_components``), so every limit the document shows is the one enforced; the
operations, parameters, statuses and security come from the table the app routes from, so no route
exists undocumented. ``tests/test_openapi.py`` fuzzes the hub from the served document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from hub import __version__
from hub.api.errors import ERROR_STATUSES, HTTP_CODES, Error
from hub.api.operation import Operation, Reply, Socket
from hub.settings import Settings

SCHEMA_REF = "#/components/schemas/{name}"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Reading needs a token (Bearer or cookie); writing with the cookie also needs the CSRF header.
READ_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": []}]
WRITE_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": [], "csrf": []}]
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "The token from POST /api/auth/login."},
    "cookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "bob_session",
        "description": "HttpOnly, SameSite=Strict cookie set at login. Unsafe methods also need X-CSRF-Token.",
    },
    "csrf": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
        "description": "The csrf_token from login (also in the bob_csrf cookie): double-submit proof.",
    },
    "widgetKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Widget-Key",
        "description": "A publishable widget key (pk_live_… / pk_test_…); the Origin must be allowed for it.",
    },
}
SSE_CONTENT = {
    "schema": {
        "type": "string",
        "description": "Events `message`, `token`, `error` (as the socket's frames) and a last `done` with the JSON "
        "answer.",
    }
}


def build_document(
    operations: Sequence[Operation], sockets: Sequence[Socket], tags: Mapping[str, str]
) -> dict[str, Any]:
    bodies = list(
        dict.fromkeys(
            [Error]
            + [op.body for op in operations if op.body is not None]
            + [reply.body for op in operations for reply in op.replies.values() if reply.body is not None]
        )
    )
    refs, schemas = msgspec.json.schema_components(bodies, ref_template=SCHEMA_REF)
    schema_of = dict(zip(bodies, refs, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        if op.tag not in tags:
            raise ValueError(f"{op.method} {op.path}: tag {op.tag!r} is not one of {', '.join(tags)}")
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, schema_of)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Bob hub",
            "version": __version__,
            "description": 'AI front-office chat. Every error is `{"error": {"code", "message"}}`. '
            "The live conversations are WebSockets, which OpenAPI cannot describe: see `x-websockets` and "
            "docs/PROTOCOL.md.",
        },
        "tags": [{"name": name, "description": description} for name, description in tags.items()],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {name: _error_response(status, text) for status, (name, text) in ERROR_STATUSES.items()},
            "securitySchemes": SECURITY_SCHEMES,
        },
        "x-websockets": {
            socket.path: {"summary": socket.summary, "description": socket.description, "protocol": socket.protocol}
            for socket in sockets
        },
    }


def _operation(op: Operation, schema_of: Mapping[Any, Any]) -> dict[str, Any]:
    described: dict[str, Any] = {"tags": [op.tag], "summary": op.summary}
    if op.description:
        described["description"] = op.description
    described["security"] = _security(op)
    parameters = [
        *(_parameters(op.path_parameters, "path") if op.path_parameters else []),
        *(_parameters(op.query, "query") if op.query else []),
        *(
            {
                "name": h.name,
                "in": "header",
                "required": h.required,
                "description": h.description,
                "schema": {"type": "string"},
            }
            for h in op.headers
        ),
    ]
    if parameters:
        described["parameters"] = parameters
    if op.body is not None:
        described["requestBody"] = {
            "required": not op.body_optional,
            "description": _body_limit(op.body_bytes) + (" The body may be left out." if op.body_optional else ""),
            "content": {"application/json": {"schema": schema_of[op.body]}},
        }
    responses = {str(status): _reply(reply, schema_of) for status, reply in op.replies.items()}
    for status in op.errors:
        responses[str(status)] = {"$ref": f"#/components/responses/{ERROR_STATUSES[status][0]}"}
    described["responses"] = responses
    return described


def _security(op: Operation) -> list[dict[str, list[str]]]:
    if op.auth == "none":
        return []
    if op.auth == "widget key":
        return [{"widgetKey": []}]
    return READ_SECURITY if op.method in SAFE_METHODS else WRITE_SECURITY


def _body_limit(body_bytes: int | None) -> str:
    if body_bytes is None:
        return f"At most `HUB_MAX_BODY_BYTES` (default {Settings.max_body_bytes}) bytes of JSON; strings without NUL."
    return f"At most {body_bytes} bytes of JSON; strings without NUL."


def _parameters(model: type[msgspec.Struct], location: str) -> list[dict[str, Any]]:
    """A parameter Struct as OpenAPI parameters (an absent parameter is the field's default)."""
    _, components = msgspec.json.schema_components([model], ref_template=SCHEMA_REF)
    schema = components[model.__name__]
    required = set(schema.get("required", ()))
    found = []
    for name, given in schema["properties"].items():
        prop = _not_null(given)
        parameter: dict[str, Any] = {"name": name, "in": location, "required": location == "path" or name in required}
        if "description" in prop:
            parameter["description"] = prop.pop("description")
        parameter["schema"] = prop
        found.append(parameter)
    return found


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``T | None`` as T: a parameter that is left out is None, it is never sent as null."""
    options = schema.get("anyOf")
    if options is None:
        return dict(schema)
    kept = [option for option in options if option != {"type": "null"}]
    rest = {key: value for key, value in schema.items() if key != "anyOf" and not (key == "default" and value is None)}
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def _reply(reply: Reply, schema_of: Mapping[Any, Any]) -> dict[str, Any]:
    described: dict[str, Any] = {"description": reply.description}
    content: dict[str, Any] = {}
    if reply.body is not None:
        content["application/json"] = {"schema": schema_of[reply.body]}
    if reply.stream:
        content["text/event-stream"] = SSE_CONTENT
    if content:
        described["content"] = content
    if reply.headers:
        described["headers"] = {name: {"schema": {"type": "string"}} for name in reply.headers}
    return described


def _error_response(status: int, description: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": f"{description} (code e.g. `{HTTP_CODES.get(status, 'unavailable')}`)",
        "content": {"application/json": {"schema": {"$ref": SCHEMA_REF.format(name=Error.__name__)}}},
    }
    if status == 429:
        retry_after = {"type": "integer", "minimum": 1}
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait before trying again.", "schema": retry_after}
        }
    return response
