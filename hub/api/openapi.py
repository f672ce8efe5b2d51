"""``GET /api/openapi.json``: the hub's HTTP API as an OpenAPI 3.1 document.

The document is a plain dict built once at import. Field names are exactly the ones the handlers in
``hub.api`` read; ``tests/test_openapi.py`` checks that every ``/api`` route is described here (and
nothing else) and fuzzes every operation from this very document. The visitor WebSocket cannot be
described by OpenAPI: ``x-websockets`` points to ``docs/PROTOCOL.md``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from hub.api.bodies import MAX_BODY_BYTES
from hub.api.errors import HTTP_CODES
from hub.api.widget_keys import MAX_ORIGINS
from hub.auth.permissions import PLATFORM_BUSINESS_ID
from hub.settings import Settings
from hub.store.webhooks import EVENTS as WEBHOOK_EVENTS

LOGIN_BODY_BYTES = 4096
MESSAGE_CHARS = Settings.max_message_chars

BODY_LIMIT = f"At most `HUB_MAX_BODY_BYTES` (default {MAX_BODY_BYTES}) bytes of JSON; strings without NUL."
RATE_LIMITS = (
    "Rate limited (429 with Retry-After) per address (`HUB_RATE_LIMIT_ADDRESS`, default 120/minute) and per "
    "session (`HUB_RATE_LIMIT_SESSION`, default 30/minute)"
)

Schema = dict[str, Any]


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _object(properties: dict[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required), **extra}


def _json(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ok(description: str, schema: Schema, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": _json(schema)}
    if headers:
        response["headers"] = headers
    return response


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _ref("responses", _ERROR_RESPONSES[status][0]) for status in statuses}


def _body(schema_name: str, description: str, *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "description": description, "content": _json(_ref("schemas", schema_name))}


def _header(name: str, description: str, *, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


SESSION_ID: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "description": "A name the client chooses for its conversation, e.g. `session_123`. The hub binds it to "
    "the caller (visitor token or cookie) and the tenant, so guessing another visitor's name opens a new, "
    "empty conversation.",
}
MESSAGE: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": MESSAGE_CHARS,
    "pattern": r"\S",
    "description": f"The text; not blank. Longer than `HUB_MAX_MESSAGE_CHARS` (default {MESSAGE_CHARS}) is a 413.",
}
BUSINESS_ID: Schema = {
    "type": ["string", "null"],
    "maxLength": 64,
    "description": "The tenant's business_id.",
}

SCHEMAS: dict[str, Schema] = {
    "Error": _object(
        {
            "error": _object(
                {
                    "code": {
                        "type": "string",
                        "description": "Stable, machine-readable: e.g. invalid_input, unauthenticated, forbidden, "
                        "origin_not_allowed, not_found, unknown_tenant, unknown_session, method_not_allowed, "
                        "too_large, unsupported_media_type, rate_limited, unavailable.",
                    },
                    "message": {"type": "string", "description": "For people: what was wrong and what to do."},
                },
                ("code", "message"),
            )
        },
        ("error",),
        description="The one error shape of every HTTP endpoint.",
    ),
    "LoginRequest": _object(
        {
            "email": {"type": "string", "minLength": 1, "maxLength": 254, "description": "Case-insensitive."},
            "password": {"type": "string", "minLength": 1, "maxLength": 1024},
        },
        ("email", "password"),
        description=f"At most {LOGIN_BODY_BYTES} bytes of JSON.",
    ),
    "User": _object(
        {
            "id": {"type": "string"},
            "email": {"type": "string"},
            "name": {"type": "string"},
            "kind": {"type": "string", "enum": ["staff", "customer"]},
            "role": {"type": "string", "description": "agent, owner, admin (staff) or customer."},
            "tenant_id": {"type": "string"},
            "business_id": {"type": "string"},
            "permissions": {"type": "array", "items": {"type": "string"}, "description": "e.g. chat.manage"},
            "platform_admin": {"type": "boolean"},
        },
        ("id", "email", "name", "kind", "role", "tenant_id", "business_id", "permissions", "platform_admin"),
    ),
    "LoginResponse": _object(
        {
            "token": {"type": "string", "description": "Send as `Authorization: Bearer <token>`."},
            "token_type": {"const": "Bearer"},
            "expires_at": {"type": "string", "format": "date-time"},
            "csrf_token": {
                "type": "string",
                "description": "Send as `X-CSRF-Token` on unsafe requests that authenticate with the cookie.",
            },
            "user": _ref("schemas", "User"),
        },
        ("token", "token_type", "expires_at", "csrf_token", "user"),
    ),
    "Message": _object(
        {
            "type": {"const": "message"},
            "seq": {"type": "integer", "minimum": 1},
            "id": {"type": "string"},
            "role": {"type": "string", "enum": ["visitor", "ai", "agent", "system"]},
            "text": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "client_id": {"type": "string"},
            "truncated": {"type": "boolean"},
            "author": {"type": "string"},
        },
        ("type", "seq", "id", "role", "text", "created_at"),
        description="A durable message, as the visitor socket's `message` frame (docs/PROTOCOL.md).",
    ),
    "ChatRequest": _object(
        {"message": MESSAGE, "session_id": SESSION_ID, "business_id": BUSINESS_ID},
        ("message", "session_id"),
        description=f"Without business_id (or with null or an empty string) the platform tenant "
        f"`{PLATFORM_BUSINESS_ID}` answers. {BODY_LIMIT}",
    ),
    "WidgetChatRequest": _object(
        {"session_id": SESSION_ID, "message": MESSAGE},
        ("session_id", "message"),
        description=BODY_LIMIT,
    ),
    "ChatReply": _object(
        {
            "session_id": {"type": "string", "description": "As the client sent it."},
            "reply": {"type": ["string", "null"], "description": "The AI's answer; null when an agent answers."},
            "seq": {"type": "integer", "description": "The last seq of this turn."},
            "mode": {"type": "string", "description": "ai, or human once an agent took over."},
            "messages": {
                "type": "array",
                "items": _ref("schemas", "Message"),
                "description": "Agent or system messages the caller has not seen yet.",
            },
        },
        ("session_id", "reply", "seq", "mode", "messages"),
    ),
    "WidgetChatReply": {
        "allOf": [
            _ref("schemas", "ChatReply"),
            _object(
                {
                    "visitor_token": {
                        "type": "string",
                        "description": "Send it back as `X-Visitor-Token` to stay the same visitor.",
                    }
                },
                ("visitor_token",),
            ),
        ]
    },
    "AppSessionRequest": _object(
        {"business_id": {**BUSINESS_ID, "description": "Another tenant's business_id: platform admins only."}},
        description="The body may be left out (no body or Content-Length: 0).",
    ),
    "AppSession": _object(
        {
            "session_id": {"type": "string"},
            "tenant_id": {"type": "string"},
            "business_id": {"type": "string"},
            "resume_token": {"type": "string", "description": "Lets a visitor socket join this session."},
            "seq": {"const": 0},
        },
        ("session_id", "tenant_id", "business_id", "resume_token", "seq"),
    ),
    "AppMessageRequest": _object(
        {
            "session_id": {**SESSION_ID, "description": "An existing session of the tenant (the real id)."},
            "message": MESSAGE,
            "business_id": {**BUSINESS_ID, "description": "Another tenant's business_id: platform admins only."},
        },
        ("session_id", "message"),
    ),
    "AppMessage": _object(
        {
            "session_id": {"type": "string"},
            "seq": {"type": "integer"},
            "message": _ref("schemas", "Message"),
            "mode": {"type": "string"},
        },
        ("session_id", "seq", "message", "mode"),
    ),
    "History": _object(
        {
            "session_id": {"type": "string"},
            "seq": {"type": "integer", "description": "The session's last seq."},
            "mode": {"type": "string"},
            "messages": {"type": "array", "items": _ref("schemas", "Message")},
        },
        ("session_id", "seq", "mode", "messages"),
    ),
    "WidgetKey": _object(
        {
            "key": {"type": "string", "description": "pk_live_… or pk_test_…"},
            "mode": {"type": "string", "enum": ["live", "test"]},
            "origins": {"type": "array", "items": {"type": "string"}},
            "revoked": {"type": "boolean"},
        },
        ("key", "mode", "origins", "revoked"),
    ),
    "Plan": _object(
        {
            "id": {"type": "string", "enum": ["starter", "pro", "enterprise"]},
            "name": {"type": "string", "maxLength": 60},
            "price_usd_month": {"type": "integer", "minimum": 0},
            "ai_credits_month": {"type": "integer", "minimum": 0, "description": "AI credits included a month."},
            "seats": {"type": ["integer", "null"], "minimum": 1, "description": "Agent seats; null = unlimited."},
            "integrations": {"type": "integer", "minimum": 0, "description": "Standard integrations included."},
            "support": {"type": "string", "enum": ["standard", "priority", "dedicated"]},
        },
        ("id", "name", "price_usd_month", "ai_credits_month", "seats", "integrations", "support"),
    ),
    "Pricebook": _object(
        {
            "version": {"type": "integer"},
            "label": {"type": "string", "description": "e.g. `pricebook-seed V1`"},
            "status": {"type": "string", "enum": ["draft", "published"]},
            "created_at": {"type": "string", "format": "date-time"},
            "published_at": {"type": ["string", "null"], "format": "date-time"},
            "plans": {"type": "array", "items": _ref("schemas", "Plan")},
        },
        ("version", "label", "status", "created_at", "published_at", "plans"),
    ),
    "PricebookDraftRequest": _object(
        {
            "label": {"type": "string", "maxLength": 100},
            "plans": {"type": "array", "minItems": 3, "maxItems": 3, "items": _ref("schemas", "Plan")},
        },
        ("plans",),
    ),
    "WebhookEndpoint": _object(
        {
            "id": {"type": "string"},
            "url": {"type": "string"},
            "events": {"type": "array", "items": {"type": "string", "enum": list(WEBHOOK_EVENTS)}},
            "description": {"type": "string"},
            "disabled": {"type": "boolean"},
            "created_at": {"type": "string", "format": "date-time"},
            "secret": {"type": "string", "description": "whsec_…: verify signatures with it (Standard Webhooks)."},
        },
        ("id", "url", "events", "description", "disabled", "created_at"),
    ),
    "WebhookList": _object({"webhooks": {"type": "array", "items": _ref("schemas", "WebhookEndpoint")}}, ("webhooks",)),
    "WebhookRequest": _object(
        {
            "url": {"type": "string", "maxLength": 2000, "description": "http(s); private addresses refused"},
            "events": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(WEBHOOK_EVENTS)}},
            "description": {"type": "string", "maxLength": 200},
        },
        ("url", "events"),
    ),
    "WebhookChange": _object(
        {
            "url": {"type": "string", "maxLength": 2000},
            "events": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(WEBHOOK_EVENTS)}},
            "description": {"type": "string", "maxLength": 200},
            "disabled": {"type": "boolean"},
        }
    ),
    "WebhookDelivery": _object(
        {
            "id": {"type": "string", "description": "The webhook-id header, the same on every attempt."},
            "event_type": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
            "attempts": {"type": "integer"},
            "next_attempt_at": {"type": ["string", "null"]},
            "last_status": {"type": ["integer", "null"]},
            "last_error": {"type": ["string", "null"]},
            "created_at": {"type": "string"},
            "delivered_at": {"type": ["string", "null"]},
        },
        ("id", "event_type", "status", "attempts"),
    ),
    "WebhookDeliveryList": _object(
        {"deliveries": {"type": "array", "items": _ref("schemas", "WebhookDelivery")}}, ("deliveries",)
    ),
    "Usage": _object(
        {
            "plan": {"type": "string"},
            "month": {"type": "string", "description": "YYYY-MM (UTC)"},
            "unit": {"type": "string", "description": "What one credit is: one AI reply."},
            "ai_credits_used": {"type": "integer"},
            "ai_credits_included": {"type": "integer"},
            "ai_credits_remaining": {"type": "integer"},
            "exhausted": {"type": "boolean"},
        },
        ("plan", "month", "unit", "ai_credits_used", "ai_credits_included", "ai_credits_remaining", "exhausted"),
    ),
    "StaffUser": _object(
        {
            "id": {"type": "string"},
            "email": {"type": "string"},
            "name": {"type": "string"},
            "role": {"type": "string", "enum": ["agent", "owner", "admin"]},
            "disabled": {"type": "boolean"},
        },
        ("id", "email", "name", "role", "disabled"),
    ),
    "Team": _object(
        {
            "plan": {"type": "string", "enum": ["starter", "pro", "enterprise"]},
            "seats": {"type": ["integer", "null"], "description": "The plan's seats; null = unlimited."},
            "seats_taken": {"type": "integer"},
            "users": {"type": "array", "items": _ref("schemas", "StaffUser")},
        },
        ("plan", "seats", "seats_taken", "users"),
    ),
    "TeammateRequest": _object(
        {
            "email": {"type": "string", "maxLength": 254},
            "password": {"type": "string", "minLength": 8, "maxLength": 1024},
            "name": {"type": "string", "maxLength": 200},
            "role": {"type": "string", "enum": ["agent", "owner"]},
        },
        ("email", "password"),
    ),
    "TenantRequest": _object(
        {
            "name": {"type": "string", "maxLength": 200},
            "business_id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$"},
            "plan": {"type": "string", "enum": ["starter", "pro", "enterprise"]},
            "origins": {"type": "array", "maxItems": 50, "items": {"type": "string"}},
            "owner": _object(
                {
                    "email": {"type": "string", "maxLength": 254},
                    "password": {"type": "string", "minLength": 8, "maxLength": 1024},
                    "name": {"type": "string", "maxLength": 200},
                },
                ("email", "password"),
            ),
        },
        ("name", "business_id", "owner"),
    ),
    "RegisteredTenant": _object(
        {
            "uuid": {"type": "string"},
            "business_id": {"type": "string"},
            "name": {"type": "string"},
            "plan": {"type": "string"},
            "owner": _ref("schemas", "StaffUser"),
            "widget_key": {"type": "string"},
            "persona": _ref("schemas", "Persona"),
        },
        ("uuid", "business_id", "name", "plan", "owner", "widget_key", "persona"),
    ),
    "Persona": _object(
        {
            "id": {"type": "string"},
            "name": {"type": "string", "maxLength": 60},
            "description": {"type": "string", "maxLength": 500},
            "tone": {"type": "string", "maxLength": 100},
            "systemPrompt": {"type": "string", "maxLength": 8000},
            "active": {"type": "boolean", "description": "Exactly one persona of a tenant is active."},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
        ("id", "name", "description", "tone", "systemPrompt", "active", "created_at", "updated_at"),
    ),
    "PersonaList": _object({"personas": {"type": "array", "items": _ref("schemas", "Persona")}}, ("personas",)),
    "PersonaRequest": _object(
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 60},
            "description": {"type": "string", "maxLength": 500},
            "tone": {"type": "string", "maxLength": 100},
            "systemPrompt": {"type": "string", "minLength": 1, "maxLength": 8000},
            "active": {"type": "boolean", "description": "true: this becomes the tenant's active persona."},
        },
        ("name", "systemPrompt"),
    ),
    "PersonaChange": _object(
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 60},
            "description": {"type": "string", "maxLength": 500},
            "tone": {"type": "string", "maxLength": 100},
            "systemPrompt": {"type": "string", "minLength": 1, "maxLength": 8000},
            "active": {"type": "boolean", "enum": [True], "description": "Make this the active persona."},
        }
    ),
    "WidgetKeyList": _object(
        {"widget_keys": {"type": "array", "items": _ref("schemas", "WidgetKey")}}, ("widget_keys",)
    ),
    "WidgetKeyRequest": _object(
        {
            "origins": {
                "type": "array",
                "maxItems": MAX_ORIGINS,
                "items": {"type": "string"},
                "description": "Allowed origins, `scheme://host[:port]`, or `scheme://*.host[:port]` for subdomains.",
            },
            "mode": {"type": "string", "enum": ["live", "test"], "default": "live"},
        },
        ("origins",),
        description="At most 16384 bytes.",
    ),
    "Health": _object(
        {
            "ok": {"type": "boolean"},
            "node": {"type": "string"},
            "database": {"type": "object"},
            "broker": {"type": "object", "description": "Without Redis (one node)."},
            "redis": {"type": "object", "description": "With Redis."},
            "ai": {"type": "object"},
            "sockets": {"type": "integer"},
            "ai_replies_streaming": {"type": "integer"},
        },
        ("ok", "node", "database", "ai", "sockets"),
    ),
}

RETRY_AFTER = {"description": "Seconds to wait before trying again.", "schema": {"type": "integer", "minimum": 1}}

_ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Malformed JSON, a body that is not an object, or a missing or ill-typed field."),
    401: ("Unauthenticated", "No, an unknown, expired or revoked token (or widget key)."),
    403: ("Forbidden", "Not allowed: missing permission, cookie without X-CSRF-Token, or an Origin not allowed."),
    404: ("NotFound", "No such tenant or session (for this caller)."),
    409: (
        "Conflict",
        "Another agent owns the session, the pricebook version is already published, or the persona is active.",
    ),
    413: ("TooLarge", "The body or a field is too large."),
    415: ("UnsupportedMediaType", "The body is not sent as Content-Type: application/json."),
    429: ("RateLimited", "Too many requests (per address, per widget key, per session, failed logins)."),
    503: ("Unavailable", "The hub cannot serve this now (e.g. the AI did not answer in time); retry later."),
}


def _error_response(status: int, description: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": f"{description} (code e.g. `{HTTP_CODES.get(status, 'unavailable')}`)",
        "content": _json(_ref("schemas", "Error")),
    }
    if status == 429:
        response["headers"] = {"Retry-After": RETRY_AFTER}
    return response


RESPONSES = {name: _error_response(status, description) for status, (name, description) in _ERROR_RESPONSES.items()}

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
# Reading needs a token (Bearer or cookie); writing with the cookie also needs the CSRF header.
READ_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": []}]
WRITE_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": [], "csrf": []}]

DAYS_QUERY = {
    "name": "days",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": 90, "default": 30},
}
ENDPOINT_PATH = {"name": "endpoint_id", "in": "path", "required": True, "schema": {"type": "string"}}
PERSONA_PATH = {"name": "persona_id", "in": "path", "required": True, "schema": {"type": "string"}}
VERSION_PATH = {"name": "version", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}

BUSINESS_ID_QUERY = {
    "name": "business_id",
    "in": "query",
    "required": False,
    "description": "Another tenant's business_id: platform admins only.",
    "schema": {"type": "string"},
}
ACCEPT_SSE = _header(
    "Accept", "`text/event-stream` streams the turn as Server-Sent Events (message, token, …, done) instead of JSON."
)
SSE_CONTENT = {
    "text/event-stream": {
        "schema": {
            "type": "string",
            "description": "Events `message`, `token`, `error` (as the socket's frames) and a last `done` with "
            "the JSON answer.",
        }
    }
}


def _login(audience: str) -> dict[str, Any]:
    return {
        "post": {
            "tags": ["auth"],
            "summary": f"Log in ({audience} accounts)",
            "description": "Returns a Bearer token and also sets the HttpOnly `bob_session` cookie and the "
            "readable `bob_csrf` cookie. Failed logins are throttled per account and per address (429).",
            "security": [],
            "requestBody": _body("LoginRequest", "Email and password."),
            "responses": {
                "200": _ok("Logged in.", _ref("schemas", "LoginResponse")),
                **_errors(400, 401, 413, 415, 429),
            },
        }
    }


def _logout(audience: str) -> dict[str, Any]:
    return {
        "post": {
            "tags": ["auth"],
            "summary": f"Log out ({audience} accounts): revoke the token presented",
            "security": WRITE_SECURITY,
            "responses": {"204": {"description": "Revoked; the cookies are cleared."}, **_errors(401, 403)},
        }
    }


def _me(audience: str) -> dict[str, Any]:
    return {
        "get": {
            "tags": ["auth"],
            "summary": f"Who am I ({audience} accounts)",
            "security": READ_SECURITY,
            "responses": {"200": _ok("The caller.", _ref("schemas", "User")), **_errors(401)},
        }
    }


PATHS: dict[str, Any] = {
    "/api/health": {
        "get": {
            "tags": ["ops"],
            "summary": "Health of this node (database, broker, AI)",
            "security": [],
            "responses": {
                "200": _ok("Ready for traffic.", _ref("schemas", "Health")),
                "503": _ok("Not ready (database or broker down).", _ref("schemas", "Health")),
            },
        }
    },
    "/api/openapi.json": {
        "get": {
            "tags": ["ops"],
            "summary": "This document",
            "security": [],
            "responses": {"200": _ok("OpenAPI 3.1.", {"type": "object"})},
        }
    },
    "/api/auth/login": _login("staff"),
    "/api/auth/logout": _logout("staff"),
    "/api/auth/me": _me("staff"),
    "/api/customers/auth/login": _login("customer"),
    "/api/customers/auth/logout": _logout("customer"),
    "/api/customers/auth/me": _me("customer"),
    "/api/chat": {
        "post": {
            "tags": ["chat"],
            "summary": "Public chat: same origin, anonymous",
            "description": "The visitor is the HttpOnly `bob_visitor` cookie this endpoint sets. A request whose "
            "Origin is another site gets 403 and no CORS headers: other sites embed the widget. "
            f"{RATE_LIMITS}.",
            "security": [],
            "parameters": [
                _header("Origin", "Absent, or the hub's own origin."),
                ACCEPT_SSE,
            ],
            "requestBody": _body("ChatRequest", "The visitor's message."),
            "responses": {
                "200": {
                    "description": "The AI's reply.",
                    "content": {**_json(_ref("schemas", "ChatReply")), **SSE_CONTENT},
                },
                **_errors(400, 403, 404, 413, 415, 429, 503),
            },
        }
    },
    "/api/widget/chat": {
        "post": {
            "tags": ["chat"],
            "summary": "Widget chat: cross-origin, with a widget key",
            "description": "Needs X-Widget-Key and an Origin allowed for that key. Answers (errors after the "
            "origin check included) carry Access-Control-Allow-Origin and Vary: Origin. "
            f"{RATE_LIMITS}, and per widget key (`HUB_RATE_LIMIT_KEY`, default 3000/minute).",
            "security": [{"widgetKey": []}],
            "parameters": [
                _header("Origin", "Must be allowed for the widget key.", required=True),
                _header("X-Visitor-Token", "The visitor_token of an earlier answer: the same visitor again."),
                ACCEPT_SSE,
            ],
            "requestBody": _body("WidgetChatRequest", "The visitor's message."),
            "responses": {
                "200": {
                    "description": "The AI's reply and the visitor token.",
                    "content": {**_json(_ref("schemas", "WidgetChatReply")), **SSE_CONTENT},
                },
                **_errors(400, 401, 403, 404, 413, 415, 429, 503),
            },
        },
        "options": {
            "tags": ["chat"],
            "summary": "CORS preflight for widget chat",
            "description": "Answered only for an Origin that some active widget key allows.",
            "security": [],
            "parameters": [
                _header("Origin", "The embedding page's origin.", required=True),
                _header("Access-Control-Request-Method", "POST"),
                _header("Access-Control-Request-Headers", "e.g. content-type, x-widget-key"),
            ],
            "responses": {
                "204": {
                    "description": "Allowed.",
                    "headers": {
                        name: {"schema": {"type": "string"}}
                        for name in (
                            "Access-Control-Allow-Origin",
                            "Access-Control-Allow-Methods",
                            "Access-Control-Allow-Headers",
                            "Access-Control-Max-Age",
                            "Vary",
                        )
                    },
                },
                **_errors(403),
            },
        },
    },
    "/api/chat/session": {
        "post": {
            "tags": ["app"],
            "summary": "App: open a new session (needs chat.manage)",
            "description": "Anonymous callers get 401 with a pointer to POST /api/chat.",
            "security": WRITE_SECURITY,
            "requestBody": _body("AppSessionRequest", "Optional.", required=False),
            "responses": {
                "201": _ok("Opened.", _ref("schemas", "AppSession")),
                **_errors(400, 401, 403, 404, 413, 415),
            },
        }
    },
    "/api/chat/message": {
        "post": {
            "tags": ["app"],
            "summary": "App: post an agent message to a session (needs chat.manage)",
            "description": (
                "Delivered live to the visitor's WebSocket, on any node. While another agent owns the "
                "session (human mode, see Mission Control's takeover) it is refused with 409 owned_by_other."
            ),
            "security": WRITE_SECURITY,
            "requestBody": _body("AppMessageRequest", "The agent's message."),
            "responses": {
                "200": _ok("Stored and delivered.", _ref("schemas", "AppMessage")),
                **_errors(400, 401, 403, 404, 409, 413, 415, 503),
            },
        }
    },
    "/api/chat/history/{session_id}": {
        "get": {
            "tags": ["app"],
            "summary": "App: a session's transcript (needs chat.manage)",
            "security": READ_SECURITY,
            "parameters": [
                {"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {
                    "name": "after_seq",
                    "in": "query",
                    "required": False,
                    "description": "Only messages after this seq.",
                    "schema": {"type": "integer", "minimum": 0, "default": 0},
                },
                BUSINESS_ID_QUERY,
            ],
            "responses": {
                "200": _ok("The messages.", _ref("schemas", "History")),
                **_errors(400, 401, 403, 404),
            },
        }
    },
    "/api/pricebook": {
        "get": {
            "tags": ["pricebook"],
            "summary": "The published pricebook: the live plans and numbers",
            "security": [],
            "responses": {
                "200": _ok("The current version.", _ref("schemas", "Pricebook")),
                "503": _ok("Nothing published yet.", _ref("schemas", "Error")),
            },
        }
    },
    "/api/pricebook/versions/{version}": {
        "get": {
            "tags": ["pricebook"],
            "summary": "One published pricebook version (drafts only for platform admins)",
            "security": [],
            "parameters": [VERSION_PATH],
            "responses": {"200": _ok("That version.", _ref("schemas", "Pricebook")), **_errors(400, 404)},
        }
    },
    "/api/admin/pricebook/versions": {
        "post": {
            "tags": ["pricebook"],
            "summary": "Platform admin: create a draft version (exactly the three plans)",
            "security": WRITE_SECURITY,
            "requestBody": _body("PricebookDraftRequest", "The draft's plans and an optional label."),
            "responses": {
                "201": _ok("The draft.", _ref("schemas", "Pricebook")),
                **_errors(400, 401, 403, 413, 415),
            },
        }
    },
    "/api/admin/pricebook/versions/{version}/publish": {
        "post": {
            "tags": ["pricebook"],
            "summary": "Platform admin: publish a draft; every node switches to it at once",
            "security": WRITE_SECURITY,
            "parameters": [VERSION_PATH],
            "responses": {
                "200": _ok("Published.", _ref("schemas", "Pricebook")),
                **_errors(400, 401, 403, 404, 409),
            },
        }
    },
    "/api/admin/tenants": {
        "post": {
            "tags": ["tenants"],
            "summary": "Platform admin: register a tenant (plan, owner account, first widget key, default persona)",
            "security": WRITE_SECURITY,
            "requestBody": _body("TenantRequest", "The tenant and its owner."),
            "responses": {
                "201": _ok("Registered.", _ref("schemas", "RegisteredTenant")),
                **_errors(400, 401, 403, 409, 413, 415),
            },
        }
    },
    "/api/users": {
        "get": {
            "tags": ["tenants"],
            "summary": "The tenant's team and seats (needs users.manage)",
            "security": READ_SECURITY,
            "parameters": [BUSINESS_ID_QUERY],
            "responses": {"200": _ok("The team.", _ref("schemas", "Team")), **_errors(400, 401, 403, 404)},
        },
        "post": {
            "tags": ["tenants"],
            "summary": "Add an agent or owner within the plan's seats (needs users.manage; 409 seat_limit)",
            "security": WRITE_SECURITY,
            "parameters": [BUSINESS_ID_QUERY],
            "requestBody": _body("TeammateRequest", "The new account."),
            "responses": {
                "201": _ok("Added.", _ref("schemas", "StaffUser")),
                **_errors(400, 401, 403, 404, 409, 413, 415),
            },
        },
    },
    "/api/webhooks": {
        "get": {
            "tags": ["webhooks"],
            "summary": "The tenant's webhook endpoints (needs webhooks.manage)",
            "security": READ_SECURITY,
            "parameters": [BUSINESS_ID_QUERY],
            "responses": {"200": _ok("All of them.", _ref("schemas", "WebhookList")), **_errors(400, 401, 403, 404)},
        },
        "post": {
            "tags": ["webhooks"],
            "summary": "Add an endpoint (counts against the plan's integrations: 409 integration_limit)",
            "security": WRITE_SECURITY,
            "parameters": [BUSINESS_ID_QUERY],
            "requestBody": _body("WebhookRequest", "Where to send which events."),
            "responses": {
                "201": _ok("Created, with its secret.", _ref("schemas", "WebhookEndpoint")),
                **_errors(400, 401, 403, 404, 409, 413, 415),
            },
        },
    },
    "/api/webhooks/{endpoint_id}": {
        "get": {
            "tags": ["webhooks"],
            "summary": "One endpoint, with its secret",
            "security": READ_SECURITY,
            "parameters": [ENDPOINT_PATH, BUSINESS_ID_QUERY],
            "responses": {
                "200": _ok("The endpoint.", _ref("schemas", "WebhookEndpoint")),
                **_errors(400, 401, 403, 404),
            },
        },
        "patch": {
            "tags": ["webhooks"],
            "summary": "Change an endpoint (url, events, description, disabled)",
            "security": WRITE_SECURITY,
            "parameters": [ENDPOINT_PATH, BUSINESS_ID_QUERY],
            "requestBody": _body("WebhookChange", "The fields to change."),
            "responses": {
                "200": _ok("Changed.", _ref("schemas", "WebhookEndpoint")),
                **_errors(400, 401, 403, 404, 413, 415),
            },
        },
        "delete": {
            "tags": ["webhooks"],
            "summary": "Delete an endpoint and its delivery log",
            "security": WRITE_SECURITY,
            "parameters": [ENDPOINT_PATH, BUSINESS_ID_QUERY],
            "responses": {"204": {"description": "Deleted."}, **_errors(400, 401, 403, 404)},
        },
    },
    "/api/webhooks/{endpoint_id}/deliveries": {
        "get": {
            "tags": ["webhooks"],
            "summary": "The endpoint's delivery log, newest first",
            "security": READ_SECURITY,
            "parameters": [ENDPOINT_PATH, BUSINESS_ID_QUERY],
            "responses": {
                "200": _ok("The deliveries.", _ref("schemas", "WebhookDeliveryList")),
                **_errors(400, 401, 403, 404),
            },
        }
    },
    "/api/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver": {
        "post": {
            "tags": ["webhooks"],
            "summary": "Send a delivery again (same webhook-id)",
            "security": WRITE_SECURITY,
            "parameters": [
                ENDPOINT_PATH,
                {"name": "delivery_id", "in": "path", "required": True, "schema": {"type": "string"}},
                BUSINESS_ID_QUERY,
            ],
            "responses": {"202": _ok("Queued.", {"type": "object"}), **_errors(400, 401, 403, 404)},
        }
    },
    "/api/metrics/business": {
        "get": {
            "tags": ["analytics"],
            "summary": "The tenant's conversations per day, AI alone vs taken over, medians, credits (users.manage)",
            "security": READ_SECURITY,
            "parameters": [BUSINESS_ID_QUERY, DAYS_QUERY],
            "responses": {"200": _ok("The metrics.", {"type": "object"}), **_errors(400, 401, 403, 404)},
        }
    },
    "/api/analytics/overview": {
        "get": {
            "tags": ["analytics"],
            "summary": "Platform admin: the same over every tenant, and each tenant's credits",
            "security": READ_SECURITY,
            "parameters": [DAYS_QUERY],
            "responses": {"200": _ok("The overview.", {"type": "object"}), **_errors(400, 401, 403)},
        }
    },
    "/api/usage": {
        "get": {
            "tags": ["tenants"],
            "summary": "This month's AI credits (one credit = one AI reply) against the plan's (needs users.manage)",
            "security": READ_SECURITY,
            "parameters": [BUSINESS_ID_QUERY],
            "responses": {"200": _ok("The usage.", _ref("schemas", "Usage")), **_errors(400, 401, 403, 404)},
        }
    },
    "/api/personas": {
        "get": {
            "tags": ["personas"],
            "summary": "The tenant's personas (needs personas.manage)",
            "security": READ_SECURITY,
            "parameters": [BUSINESS_ID_QUERY],
            "responses": {"200": _ok("All of them.", _ref("schemas", "PersonaList")), **_errors(400, 401, 403, 404)},
        },
        "post": {
            "tags": ["personas"],
            "summary": "Create a persona (needs personas.manage)",
            "security": WRITE_SECURITY,
            "parameters": [BUSINESS_ID_QUERY],
            "requestBody": _body("PersonaRequest", "How Bob speaks: name, description, tone, systemPrompt."),
            "responses": {
                "201": _ok("Created.", _ref("schemas", "Persona")),
                **_errors(400, 401, 403, 404, 409, 413, 415),
            },
        },
    },
    "/api/personas/{persona_id}": {
        "get": {
            "tags": ["personas"],
            "summary": "One persona (needs personas.manage)",
            "security": READ_SECURITY,
            "parameters": [PERSONA_PATH, BUSINESS_ID_QUERY],
            "responses": {"200": _ok("The persona.", _ref("schemas", "Persona")), **_errors(400, 401, 403, 404)},
        },
        "put": {
            "tags": ["personas"],
            "summary": "Change a persona (the fields sent; needs personas.manage)",
            "security": WRITE_SECURITY,
            "parameters": [PERSONA_PATH, BUSINESS_ID_QUERY],
            "requestBody": _body("PersonaChange", "The fields to change."),
            "responses": {
                "200": _ok("The persona as changed.", _ref("schemas", "Persona")),
                **_errors(400, 401, 403, 404, 409, 413, 415),
            },
        },
        "patch": {
            "tags": ["personas"],
            "summary": "Change a persona (same as PUT)",
            "security": WRITE_SECURITY,
            "parameters": [PERSONA_PATH, BUSINESS_ID_QUERY],
            "requestBody": _body("PersonaChange", "The fields to change."),
            "responses": {
                "200": _ok("The persona as changed.", _ref("schemas", "Persona")),
                **_errors(400, 401, 403, 404, 409, 413, 415),
            },
        },
        "delete": {
            "tags": ["personas"],
            "summary": "Delete a persona that is not the active one (needs personas.manage)",
            "security": WRITE_SECURITY,
            "parameters": [PERSONA_PATH, BUSINESS_ID_QUERY],
            "responses": {"204": {"description": "Deleted."}, **_errors(400, 401, 403, 404, 409)},
        },
    },
    "/api/widget-keys": {
        "get": {
            "tags": ["widget keys"],
            "summary": "The tenant's widget keys (needs widget.manage)",
            "security": READ_SECURITY,
            "parameters": [BUSINESS_ID_QUERY],
            "responses": {
                "200": _ok("The keys, revoked ones included.", _ref("schemas", "WidgetKeyList")),
                **_errors(400, 401, 403, 404),
            },
        },
        "post": {
            "tags": ["widget keys"],
            "summary": "Create a widget key (needs widget.manage)",
            "security": WRITE_SECURITY,
            "parameters": [BUSINESS_ID_QUERY],
            "requestBody": _body("WidgetKeyRequest", "Its allowed origins and mode."),
            "responses": {
                "201": _ok("Created.", _ref("schemas", "WidgetKey")),
                **_errors(400, 401, 403, 404, 413, 415),
            },
        },
    },
    "/api/widget-keys/{key}": {
        "delete": {
            "tags": ["widget keys"],
            "summary": "Revoke a widget key (needs widget.manage)",
            "security": WRITE_SECURITY,
            "parameters": [
                {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}},
                BUSINESS_ID_QUERY,
            ],
            "responses": {"204": {"description": "Revoked."}, **_errors(400, 401, 403, 404)},
        }
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Bob hub",
        "version": "0.1.0",
        "description": 'AI front-office chat. Every error is `{"error": {"code", "message"}}`. '
        "The live visitor conversation is a WebSocket, `GET /ws/visitor/{tenant_uuid}`, which OpenAPI "
        "cannot describe: see `x-websockets` and docs/PROTOCOL.md.",
    },
    "tags": [
        {"name": "chat", "description": "The public and widget chat paths."},
        {"name": "app", "description": "The logged-in app (Mission Control)."},
        {"name": "auth", "description": "Staff and customer accounts."},
        {"name": "widget keys", "description": "Publishable keys for the widget and their allowed origins."},
        {"name": "ops", "description": "Operations."},
    ],
    "paths": PATHS,
    "components": {"schemas": SCHEMAS, "responses": RESPONSES, "securitySchemes": SECURITY_SCHEMES},
    "x-websockets": {
        "/ws/visitor/{tenant_uuid}": {
            "summary": "The visitor's live conversation: messages, AI tokens, typing, resume",
            "description": "A WebSocket upgrade of `GET /ws/visitor/{tenant_uuid}` (optional query "
            "`session_id`, `resume_token`, `last_seq` to resume). Frames are JSON text; refusals are close "
            "codes (4404 unknown tenant, 4403 origin not allowed, 4400 bad resume).",
            "protocol": "docs/PROTOCOL.md",
        },
        "/ws/agent": {
            "summary": "Mission Control: the tenant's live session list, watch, takeover, handback, close",
            "description": "A WebSocket upgrade of `GET /ws/agent` (optional query `business_id` for platform "
            "admins), authenticated by the cookie session from the hub's own pages or `Authorization: Bearer`; "
            "needs `chat.manage`. Refusals are close codes (4401 not logged in, 4403 not allowed, 4404 unknown "
            "business_id).",
            "protocol": "docs/PROTOCOL.md",
        },
    },
}


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(OPENAPI)
