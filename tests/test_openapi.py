"""The OpenAPI description at /api/openapi.json, and a fuzz test driven by it: no client mistake gets a 5xx.

The fuzz test starts one real hub per group of operations (a tag of the document, plus requests off
the document), on SQLite and on PostgreSQL, seeds it with tenants, accounts, tokens, sessions and
widget keys, then sends real HTTP over loopback from a worker thread while the hub answers on the
test's event loop. Calls are built from the served document, slot by slot (credentials, headers,
path and query parameters, content type, body fields):

1. a deterministic sweep: each operation's valid call, repeated (rate limits), then every known
   hazard (NUL, digits int() refuses, 64-bit overflow, bad origins, wrong JSON types, sizes) in
   every parameter and body field, the rest valid;
2. hypothesis: valid calls (so the happy paths run, AI replies included), calls wrong in one slot,
   and calls wrong in many, with arbitrary bytes, JSON, headers and query strings.

Every answer must be below 500, documented for its operation, an error in the one JSON shape (429
with Retry-After), and a 2xx JSON body must follow its schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import string
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from starlette.routing import Route, WebSocketRoute

from hub.api.routes import openapi_document
from hub.app import create_app
from hub.auth.permissions import PLATFORM_BUSINESS_ID
from hub.auth.tokens import issue_token
from hub.settings import Settings
from hub.store.tenants import get_tenant_by_business_id
from hub.store.widget_keys import revoke_widget_key
from tests.accounts import create_tenant, create_user, create_widget_key
from tests.conftest import RunningHub, serve_hub

OPENAPI = openapi_document()
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SHOP = "https://shop.example.com"
PASSWORD = "fuzz-pass-123"
# A deeper run: HUB_FUZZ_EXAMPLES=2000 (rate limits answer 429 to much of it; that is checked too).
EXAMPLES_PER_GROUP = int(os.environ.get("HUB_FUZZ_EXAMPLES", "150"))


def spec_operations(document: dict[str, Any]) -> dict[str, set[str]]:
    return {
        path: {method.upper() for method in item if method in HTTP_METHODS} for path, item in document["paths"].items()
    }


def app_routes(settings: Settings) -> tuple[dict[str, set[str]], set[str]]:
    http: dict[str, set[str]] = {}
    sockets = set()
    for route in create_app(settings).routes:
        if isinstance(route, Route):
            http.setdefault(route.path, set()).update((route.methods or set()) - {"HEAD"})
        elif isinstance(route, WebSocketRoute):
            sockets.add(route.path)
    return http, sockets


async def test_served_document_is_valid_openapi_3_1(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        response = await client.get("/api/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    document = response.json()
    assert document == json.loads(json.dumps(OPENAPI)), "served as built"
    assert document["openapi"].startswith("3.1.")
    validate(document)  # raises on any structural error, unresolvable $ref included


def test_every_api_route_is_described_and_nothing_else(settings: Settings) -> None:
    routes, sockets = app_routes(settings)
    api = {path: methods for path, methods in routes.items() if path.startswith("/api")}
    assert spec_operations(OPENAPI) == api
    assert set(OPENAPI["x-websockets"]) == sockets
    for socket in OPENAPI["x-websockets"].values():
        assert socket["protocol"] == "docs/PROTOCOL.md"


def test_every_error_response_is_the_one_error_shape() -> None:
    responses = OPENAPI["components"]["responses"]
    for path, item in OPENAPI["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    name = response["$ref"].rsplit("/", 1)[1]
                    schema = responses[name]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
            if "429" in operation["responses"]:
                assert "Retry-After" in responses["RateLimited"]["headers"]


def test_request_schemas_name_the_fields_the_handlers_read() -> None:
    def body(path: str, method: str = "post") -> tuple[set[str], set[str]]:
        ref = OPENAPI["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = OPENAPI["components"]["schemas"][ref.rsplit("/", 1)[1]]
        return set(schema["properties"]), set(schema["required"])

    visitor = {"handoff", "email", "language", "time_zone", "page"}
    assert body("/api/chat") == ({"message", "session_id", "business_id", *visitor}, {"message", "session_id"})
    assert body("/api/widget/chat") == ({"session_id", "message", *visitor}, {"session_id", "message"})
    assert body("/api/chat/session") == ({"business_id"}, set())
    assert body("/api/chat/message") == ({"session_id", "message", "business_id"}, {"session_id", "message"})
    assert body("/api/auth/login") == body("/api/customers/auth/login") == ({"email", "password"},) * 2
    widget = OPENAPI["paths"]["/api/widget/chat"]["post"]
    assert {p["name"] for p in widget["parameters"]} >= {"Origin", "X-Visitor-Token"}
    assert widget["security"] == [{"widgetKey": []}]
    assert OPENAPI["components"]["securitySchemes"]["widgetKey"]["name"] == "X-Widget-Key"
    history = OPENAPI["paths"]["/api/chat/history/{session_id}"]["get"]["parameters"]
    assert {(p["name"], p["in"]) for p in history} == {
        ("session_id", "path"),
        ("after_seq", "query"),
        ("business_id", "query"),
    }


# --- the fuzz test ---------------------------------------------------------------------------

Credential = tuple[str, str]  # a login token and its CSRF token


@dataclass
class Seeds:
    """What the seeded hub knows, so that generated requests can also be valid ones."""

    base: str
    shop_business_id: str
    tokens: dict[str, Credential]  # role -> a token that stays valid (the owner's makes valid calls)
    spare_tokens: list[Credential]  # tokens that logout may revoke
    emails: dict[str, str]  # role -> email
    widget_key: str
    revoked_key: str
    spare_keys: list[str]  # keys that DELETE /api/widget-keys/{key} may revoke
    sessions: list[str]
    visitor_token: str


async def seed(hub: RunningHub) -> Seeds:
    engine = hub.node.engine
    # The PostgreSQL database is shared by the whole run: reuse its platform tenant, make our own accounts.
    platform = await get_tenant_by_business_id(engine, PLATFORM_BUSINESS_ID) or await create_tenant(
        engine, name="Office16852", business_id=PLATFORM_BUSINESS_ID
    )
    shop = await hub.tenant()
    run = uuid.uuid4().hex[:8]
    accounts = {
        "agent": (shop.id, "staff"),
        "owner": (shop.id, "staff"),
        "admin": (platform.id, "staff"),
        "customer": (shop.id, "customer"),
    }
    tokens: dict[str, Credential] = {}
    spare_tokens: list[Credential] = []
    emails = {}
    for role, (tenant_id, kind) in accounts.items():
        emails[role] = f"{role}-{run}@fuzz.example.com"
        user = await create_user(
            engine, tenant_id=tenant_id, email=emails[role], password=PASSWORD, role=role, kind=kind
        )
        issued = [await issue_token(engine, user) for _ in range(6)]
        tokens[role] = (issued[0].token, issued[0].csrf_token)
        spare_tokens += [(spare.token, spare.csrf_token) for spare in issued[1:]]
    widget_key = (await create_widget_key(engine, shop.id, [SHOP])).key
    revoked_key = (await create_widget_key(engine, shop.id, [SHOP])).key
    await revoke_widget_key(engine, shop.id, revoked_key)
    spare_keys = [(await create_widget_key(engine, shop.id, [SHOP])).key for _ in range(5)]
    agent = {"Authorization": f"Bearer {tokens['agent'][0]}"}
    async with httpx.AsyncClient(base_url=hub.http, headers=agent) as app:
        sessions = [(await app.post("/api/chat/session")).json()["session_id"] for _ in range(2)]
        posted = await app.post("/api/chat/message", json={"session_id": sessions[0], "message": "Hello from Ann"})
        assert posted.status_code == 200, posted.text
    async with httpx.AsyncClient(base_url=hub.http) as client:
        first = await client.post(
            "/api/widget/chat",
            json={"session_id": "fuzz", "message": "hello"},
            headers={"Origin": SHOP, "X-Widget-Key": widget_key},
        )
        assert first.status_code == 200, first.text
    return Seeds(
        base=hub.http,
        shop_business_id=shop.business_id,
        tokens=tokens,
        spare_tokens=spare_tokens,
        emails=emails,
        widget_key=widget_key,
        revoked_key=revoked_key,
        spare_keys=spare_keys,
        sessions=sessions,
        visitor_token=first.json()["visitor_token"],
    )


@dataclass
class Call:
    method: str
    path: str
    query: str
    headers: list[tuple[bytes, bytes]]
    body: bytes | list[bytes] | None  # a list is sent chunked, without Content-Length
    operation: dict[str, Any] | None  # None: off the document
    story: str
    client: int  # which loopback address it comes from: the rate limits count per address

    def describe(self) -> str:
        body = self.body if not isinstance(self.body, list) else b"".join(self.body)
        shown = body[:300] if body is not None else None
        return (
            f"[{self.story}] {self.method} {self.path}?{self.query} from 127.0.0.{self.client} "
            f"headers={self.headers!r} body={shown!r}"
        )


# Header values h11 lets a client send: visible ASCII, obs-text (0x80-0xFF, not UTF-8), inner blanks.
HEADER_BYTES = bytes([0x09, *range(0x20, 0x7F), *range(0x80, 0x100)])
header_junk = st.one_of(
    st.binary(max_size=60).map(lambda raw: bytes(b for b in raw if b in HEADER_BYTES)),
    st.text(string.printable.strip(), max_size=40).map(str.encode),
    st.integers(1000, 7000).map(lambda n: b"x" * n),  # long, but under the server's limit for a header block
)
junk_text = st.text(max_size=40)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | junk_text


def json_containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(junk_text, inner, max_size=4)


json_values = st.recursive(json_scalars, json_containers, max_leaves=12)
tame_text = st.text(string.ascii_letters + string.digits + " ?!.,'-", min_size=1, max_size=40).filter(str.strip)
raw_bodies = st.one_of(
    st.binary(max_size=200),  # malformed JSON, non-UTF-8
    st.sampled_from(
        [
            b"",
            b"{",
            b"null",
            b"[]",
            b'"text"',
            b"1e400",
            b"NaN",
            b'{"message": "hi", "session_id": "s", "message": 1}',
            b'{"message": "\\ud800", "session_id": "\\udfff"}',
            b'{"message": "caf\xe9", "session_id": "s"}',
            b"\xef\xbb\xbf{}",
            b"[" * 5000 + b"]" * 5000,
            b'{"session_id": "s", "message": 123456789012345678901234567890}',
            b'{"message": "' + b"x" * 70_000 + b'"}',
        ]
    ),
)
GOOD_CONTENT_TYPES = [b"application/json", b"application/json; charset=utf-8", b"Application/JSON ; charset=latin-1"]
BAD_CONTENT_TYPES = [None, b"text/plain", b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x"]
BAD_ORIGINS = [b"null", b"https://evil.example.net", b"http://[", b"http://a:x", b"https://shop.example.com/path", b"*"]
# Strings that have broken handlers or stores before: NUL (PostgreSQL text refuses it), digits that
# str.isdigit() accepts and int() does not, integers past 64 bits, blanks, lone surrogates, sizes.
STRING_HAZARDS = ["\x00", "a\x00b", "", " \t\n", "\ud800", "😀é\u200b", "x" * 5000]
INTEGER_HAZARDS = ["\u00b2", "9" * 30, "-1", "1.5", "", "\u0661", "\x00"]


# Several client addresses, so that per-address limits (120 calls, 30 failed logins a minute) answer
# 429 to part of the run and not to all the rest of it.
CLIENT_ADDRESSES = 8
addresses = st.integers(1, CLIENT_ADDRESSES)


def hazards(kind: str = "string") -> st.SearchStrategy[Any]:
    """Mostly the known hazards, sometimes anything JSON can hold."""
    known = st.sampled_from(INTEGER_HAZARDS if kind == "integer" else STRING_HAZARDS)
    return st.one_of(known, known, known, json_values)


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def url_part(value: Any) -> str:
    """Percent-encoded UTF-8, lone surrogates included (they arrive as invalid UTF-8)."""
    text = value if isinstance(value, str) else json.dumps(value)
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = OPENAPI["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def body_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    request_body = operation.get("requestBody")
    return resolve(request_body["content"]["application/json"]["schema"]) if request_body else None


def slots(operation: dict[str, Any]) -> list[tuple[str, str]]:
    """Every part of a call to ``operation`` that a call may get wrong, read from the document."""
    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    found = [("auth", "widgetKey" if "widgetKey" in schemes else "token")] if schemes else []
    if "csrf" in schemes:
        found.append(("csrf", ""))
    found += [(p["in"], p["name"]) for p in operation.get("parameters", [])]
    found.append(("query", "?"))  # a parameter nobody asked for
    schema = body_schema(operation)
    if schema is not None:
        found += [("content type", ""), ("body", "")] + [("field", name) for name in schema["properties"]]
    return found


def main_role(template: str) -> str:
    """Whose token a correct call carries: the platform admin for the admin API and analytics (so unknown
    tenants answer 404 rather than 403), else the shop's owner."""
    return "admin" if template.startswith(("/api/admin/", "/api/analytics/", "/api/metrics/")) else "owner"


def valid_values(seeds: Seeds, path: str, part: str, name: str) -> list[Any]:
    """What a correct client sends in one slot (``None``: leaves it out)."""
    origin = [None, seeds.base.encode()] if path == "/api/chat" else [SHOP.encode(), b"HTTPS://SHOP.example.com:443"]
    login_role = "customer" if path.startswith("/api/customers/") else "owner"
    known: dict[tuple[str, str], list[Any]] = {
        ("header", "Origin"): origin,
        ("header", "X-Visitor-Token"): [None, seeds.visitor_token.encode()],
        ("header", "Accept"): [None, b"application/json", b"text/event-stream"],
        ("header", "Access-Control-Request-Method"): [b"POST"],
        ("header", "Access-Control-Request-Headers"): [b"content-type, x-widget-key"],
        ("path", "session_id"): seeds.sessions,
        ("path", "key"): seeds.spare_keys,
        ("path", "version"): ["1", "2"],
        ("query", "after_seq"): [None, "0", "1", "5"],
        ("query", "business_id"): [None, seeds.shop_business_id],
        ("query", "?"): [None],
        ("field", "email"): [seeds.emails[login_role], seeds.emails[login_role].upper()],
        ("field", "password"): [PASSWORD],
        ("field", "business_id"): [None, seeds.shop_business_id]
        + (["", PLATFORM_BUSINESS_ID] if path == "/api/chat" else []),
        ("field", "session_id"): seeds.sessions if path == "/api/chat/message" else ["session_123", "s-fuzz"],
        ("field", "origins"): [[SHOP], ["https://*.example.com", "http://localhost:*"], []],
        ("field", "mode"): ["live", "test"],
    }
    return known.get((part, name), [])


def schema_values(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values that follow a property's schema, for the fields no seed knows better."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if schema.get("type") == "array":
        return st.lists(tame_text, max_size=min(3, schema.get("maxItems", 3)))
    return tame_text.map(lambda text: text[: schema.get("maxLength", 40)])


def invalid_values(seeds: Seeds, path: str, part: str, name: str) -> st.SearchStrategy[Any]:
    """What a mistaken or hostile client sends in that slot instead."""
    if part == "header":
        if name == "Origin":
            wrong = BAD_ORIGINS + ([SHOP.encode()] if path == "/api/chat" else [seeds.base.encode()])
            return st.one_of(st.sampled_from(wrong), st.sampled_from(wrong), header_junk)
        return st.sampled_from([b"forged", b"text/html"]) | header_junk
    if part == "path":
        # Not "." or "..": the client itself resolves those dot segments before sending.
        junk = junk_text.filter(lambda text: text not in ("", ".", ".."))
        return st.sampled_from([seeds.revoked_key, "unknown", "...", "%zz", "a\x00b", "x" * 3000]) | junk
    if part == "query":
        if name == "?":
            return st.tuples(junk_text, junk_text)
        return hazards("integer") if name == "after_seq" else hazards() | st.just(PLATFORM_BUSINESS_ID)
    wrong: dict[str, list[Any]] = {
        "email": [seeds.emails["agent"], seeds.emails["customer"], "nobody@fuzz.example.com", "x" * 300],
        "password": ["wrong-password", "p" * 2000],
        "business_id": [PLATFORM_BUSINESS_ID, "no-such-business", "b" * 65],
        "session_id": ["unknown-session", "s" * 65],
        "message": [" ", "m" * 5000],
        "mode": ["prod"],
    }
    if name == "origins":
        odd = st.sampled_from(ORIGIN_HAZARDS)
        return st.one_of(odd, odd, st.lists(hazards(), min_size=1, max_size=2))
    return st.sampled_from(wrong.get(name, ["?"])) | hazards()


def bad_authorization() -> st.SearchStrategy[bytes | None]:
    return st.one_of(
        st.none(),
        st.sampled_from([b"Bearer", b"bearer bob_made_up", b"Basic dXNlcjpwYXNz", b"Token x", b"Bearer a b c"]),
        header_junk.map(lambda value: b"Bearer " + value),
        header_junk,
    )


def credential_headers(draw: st.DrawFn, credential: Credential) -> dict[bytes, bytes | None]:
    token, csrf = credential
    if draw(st.booleans()):
        return {b"Authorization": b"Bearer " + token.encode()}
    return {b"Cookie": b"bob_session=" + token.encode(), b"X-CSRF-Token": csrf.encode()}


def sendable(headers: dict[bytes, bytes | None]) -> list[tuple[bytes, bytes]]:
    """h11 refuses to send a value with leading or trailing blanks, so the server would never see one."""
    return [(name, value.strip(b" \t")) for name, value in headers.items() if value is not None]


@st.composite
def calls(draw: st.DrawFn, seeds: Seeds, operations: list[tuple[str, str, dict[str, Any]]]) -> Call:
    """A call to one of ``operations``: valid, valid but for one slot, or wrong in many slots at once."""
    template, method, operation = draw(st.sampled_from(operations))
    story = draw(st.sampled_from(["valid", "one wrong", "one wrong", "one wrong", "chaos"]))
    every = slots(operation)
    broken = set() if story == "valid" else {draw(st.sampled_from(every))}
    if story == "chaos":
        broken |= {slot for slot in every if draw(st.integers(0, 2)) == 0}

    schema = body_schema(operation)

    def value(part: str, name: str) -> Any:
        if (part, name) in broken:
            return draw(invalid_values(seeds, template, part, name))
        if known := valid_values(seeds, template, part, name):
            return draw(st.sampled_from(known))
        return draw(schema_values(schema["properties"][name])) if part == "field" and schema else None

    path = template
    headers: dict[bytes, bytes | None] = {}
    query: dict[str, Any] = {}
    for parameter in operation.get("parameters", []):
        part, name = parameter["in"], parameter["name"]
        if part == "path":
            path = path.replace("{" + name + "}", url_part(value(part, name)))
        elif part == "header":
            headers[name.encode()] = value(part, name)
        elif (chosen := value(part, name)) is not None:
            query[name] = chosen
    if ("query", "?") in broken:
        junk_name, junk_value = draw(invalid_values(seeds, template, "query", "?"))
        query[junk_name] = junk_value

    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    if schemes & {"bearer", "cookie"}:
        logout = template.endswith("/logout")
        credential = draw(st.sampled_from(seeds.spare_tokens if logout else [seeds.tokens[main_role(template)]]))
        headers.update(credential_headers(draw, credential))
        if ("auth", "token") in broken:
            others = [] if logout else [seeds.tokens[role] for role in ("agent", "owner", "admin", "customer")]
            others = [token for token in others if token != seeds.tokens[main_role(template)]]
            if others and draw(st.booleans()):
                headers = {**headers, **credential_headers(draw, draw(st.sampled_from(others)))}
            else:
                headers.pop(b"Cookie", None)
                headers[b"Authorization"] = draw(bad_authorization())
        elif ("csrf", "") in broken:
            headers.pop(b"Authorization", None)
            headers[b"Cookie"] = b"bob_session=" + credential[0].encode()
            headers[b"X-CSRF-Token"] = draw(st.none() | header_junk)
    if "widgetKey" in schemes:
        headers[b"X-Widget-Key"] = seeds.widget_key.encode()
        if ("auth", "widgetKey") in broken:
            wrong_key = st.sampled_from([None, seeds.revoked_key.encode(), b"pk_live_x"]) | header_junk
            headers[b"X-Widget-Key"] = draw(wrong_key)

    body: bytes | list[bytes] | None = None
    body_broken = any(part in ("body", "field", "content type") for part, _ in broken)
    if schema is not None and (operation["requestBody"]["required"] or body_broken or draw(st.booleans())):
        fields = {}
        for name in schema["properties"]:
            if name in schema["required"] or ("field", name) in broken or draw(st.booleans()):
                fields[name] = value("field", name)
        body = dumps(fields)
        if ("body", "") in broken:
            how = draw(st.sampled_from(["missing field", "any json", "raw", "extra fields"]))
            if how == "missing field" and fields:
                del fields[draw(st.sampled_from(sorted(fields)))]
                body = dumps(fields)
            elif how == "any json":
                body = dumps(draw(json_values))
            elif how == "raw":
                body = draw(raw_bodies)
            else:
                body = dumps({**fields, **draw(st.dictionaries(junk_text, json_values, min_size=1, max_size=3))})
        headers[b"Content-Type"] = draw(st.sampled_from(GOOD_CONTENT_TYPES))
        if ("content type", "") in broken:
            headers[b"Content-Type"] = draw(st.sampled_from(BAD_CONTENT_TYPES) | header_junk)
        if draw(st.integers(0, 5)) == 0:
            body = [body[i : i + 100] for i in range(0, len(body), 100)] or [b""]
    elif story == "chaos" and draw(st.booleans()):
        body = draw(raw_bodies)  # a body where none is read
        headers[b"Content-Type"] = draw(st.sampled_from(GOOD_CONTENT_TYPES + BAD_CONTENT_TYPES))

    encoded = "&".join(f"{url_part(name)}={url_part(chosen)}" for name, chosen in query.items())
    if ("query", "?") in broken:
        encoded += draw(st.sampled_from(["", "&after_seq", "&after_seq=%zz", "&%ff%fe=%00", "&a=1&a=2"]))
    return Call(method.upper(), path, encoded, sendable(headers), body, operation, story, draw(addresses))


@st.composite
def off_document_calls(draw: st.DrawFn, seeds: Seeds) -> Call:
    """Wrong methods (HEAD included), unknown paths and odd encodings, all under /api."""
    template = draw(st.sampled_from([*OPENAPI["paths"], "/api", "/api/", "/api/nope", "/api/chat/history"]))
    path = template.replace("{session_id}", seeds.sessions[0]).replace("{key}", "k")
    path = draw(st.sampled_from([path, path + "/", path + "/extra", path.upper(), path + "%00", path + "%ff"]))
    method = draw(st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"]))
    token = draw(st.sampled_from(seeds.spare_tokens))[0]
    headers: dict[bytes, bytes | None] = {
        b"Authorization": draw(st.sampled_from([None, b"Bearer " + token.encode()]) | bad_authorization()),
        b"Origin": draw(st.sampled_from([None, SHOP.encode(), *BAD_ORIGINS])),
        b"X-Widget-Key": draw(st.sampled_from([None, seeds.widget_key.encode()])),
    }
    body = draw(st.none() | raw_bodies)
    if body is not None:
        headers[b"Content-Type"] = b"application/json"
    query = draw(st.sampled_from(["", "after_seq=1", "after_seq=%ff", "x=\u00b2"]))
    return Call(method, path, query, sendable(headers), body, None, "off the document", draw(addresses))


ORIGIN_HAZARDS = [["http://["], ["https://a:99999"], ["https://a\uff03b"], ["https://a\x00b"], ["*"], [SHOP] * 51, [1]]


def sweep_values(part: str, name: str) -> list[Any]:
    """The known hazards for one slot, all of them."""
    if part == "header":
        return BAD_ORIGINS if name == "Origin" else [b"forged", b"x" * 7000]
    if part == "path":
        return ["a\x00b", "\ud800", "%zz", "x" * 3000]
    if part == "query":
        return INTEGER_HAZARDS if name == "after_seq" else STRING_HAZARDS
    return ORIGIN_HAZARDS if name == "origins" else [*STRING_HAZARDS, 1, 1.5, True, [], {}]


def sweep_call(
    seeds: Seeds, template: str, method: str, operation: dict[str, Any], slot: tuple[str, str], hazard: Any, client: int
) -> Call:
    """A valid call (the owner's, or a spare token's for logout) but for ``hazard`` in ``slot``."""

    def value(part: str, name: str, default: Any = None) -> Any:
        if (part, name) == slot:
            return hazard
        return next((v for v in valid_values(seeds, template, part, name) if v is not None), default)

    path, headers, query = template, {}, {}
    for parameter in operation.get("parameters", []):
        part, name = parameter["in"], parameter["name"]
        chosen = value(part, name)
        if part == "path":
            path = path.replace("{" + name + "}", url_part(chosen))
        elif part == "header":
            headers[name.encode()] = chosen
        elif chosen is not None:
            query[name] = chosen
    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    if schemes & {"bearer", "cookie"}:
        token = seeds.spare_tokens[0][0] if template.endswith("/logout") else seeds.tokens[main_role(template)][0]
        headers[b"Authorization"] = b"Bearer " + token.encode()
    if "widgetKey" in schemes:
        headers[b"X-Widget-Key"] = seeds.widget_key.encode()
    body = None
    schema = body_schema(operation)
    if schema is not None:
        fields = {
            name: value("field", name, "hello")
            for name in schema["properties"]
            if name in schema["required"] or ("field", name) == slot
        }
        body = dumps(fields)
        headers[b"Content-Type"] = b"application/json"
    encoded = "&".join(f"{url_part(name)}={url_part(chosen)}" for name, chosen in query.items())
    return Call(method.upper(), path, encoded, sendable(headers), body, operation, "sweep", client)


def sweep_calls(seeds: Seeds, operations: list[tuple[str, str, dict[str, Any]]]) -> list[Call]:
    """Deterministic, before the random part: every known hazard in every parameter and body field."""
    found = []
    for template, method, operation in operations:
        # The valid call itself, again and again: the per-session limit answers 429 to the widget's.
        found += [sweep_call(seeds, template, method, operation, ("", ""), None, 1) for _ in range(4)]
        for part, name in slots(operation):
            if part in ("header", "path", "query", "field") and name != "?":
                for hazard in sweep_values(part, name):
                    client = 1 + len(found) % CLIENT_ADDRESSES
                    found.append(sweep_call(seeds, template, method, operation, (part, name), hazard, client))
    return found


def conforms(schema: dict[str, Any], response: httpx.Response, where: str) -> None:
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"not JSON: {where}") from None
    validator = jsonschema.Draft202012Validator({**schema, "components": OPENAPI["components"]})
    errors = [error.message for error in validator.iter_errors(body)]
    assert not errors, f"{errors} for {where}"


def check(call: Call, response: httpx.Response) -> None:
    where = f"{response.status_code} for {call.describe()}\n-> {response.headers!r} {response.content[:500]!r}"
    assert response.status_code < 500, where
    documented = (call.operation or {}).get("responses", {})
    if call.operation is not None and not response.is_redirect:  # "%2F" in a path parameter: Starlette's slash redirect
        assert str(response.status_code) in documented, f"undocumented status: {where}"
    if response.status_code >= 400:
        assert response.headers.get("content-type", "").startswith("application/json"), where
        if call.method != "HEAD":
            conforms({"$ref": "#/components/schemas/Error"}, response, where)
    if response.status_code == 429:
        assert response.headers.get("retry-after", "").isdigit(), where
        assert int(response.headers["retry-after"]) >= 1, where
    content = documented.get(str(response.status_code), {}).get("content", {})
    if "application/json" in content and response.headers.get("content-type") == "application/json":
        conforms(content["application/json"]["schema"], response, where)
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        assert response.status_code == 200 and "event: done" in response.text, where


def fuzz(seeds: Seeds, sweep: list[Call], strategy: st.SearchStrategy[Call], examples: int) -> dict[int, int]:
    """Runs in a worker thread: the hub answers on the test's event loop meanwhile."""
    statuses: dict[int, int] = {}
    with contextlib.ExitStack() as stack:
        clients = {
            n: stack.enter_context(
                httpx.Client(base_url=seeds.base, transport=httpx.HTTPTransport(local_address=f"127.0.0.{n}"))
            )
            for n in range(1, CLIENT_ADDRESSES + 1)
        }

        def send(call: Call) -> None:
            client = clients[call.client]
            client.cookies.clear()  # every call says itself which cookies it sends
            url = call.path + (f"?{call.query}" if call.query else "")
            content = iter(call.body) if isinstance(call.body, list) else call.body
            response = client.request(call.method, url, headers=call.headers, content=content)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            check(call, response)

        for call in sweep:
            send(call)

        @fuzz_settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        )
        @given(call=strategy)
        def one_request(call: Call) -> None:
            send(call)

        one_request()
    return statuses


def operations_tagged(tag: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in OPENAPI["paths"].items()
        for method, operation in item.items()
        if tag in operation.get("tags", ())
    ]


GROUPS = sorted({tag for item in OPENAPI["paths"].values() for op in item.values() for tag in op.get("tags", ())})


@pytest.fixture
def store_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Both stores: PostgreSQL text cannot hold NUL and its integers are bounded, where SQLite shrugs."""
    if request.param == "postgresql":
        return settings.with_overrides(database_url=request.getfixturevalue("postgres_url"))
    return settings


# PostgreSQL only where client input reaches the store (not health, this document, the router).
CASES = [("sqlite", group) for group in [*GROUPS, "off the document"]] + [
    ("postgresql", group) for group in GROUPS if group != "ops"
]


@pytest.mark.parametrize(("store_settings", "group"), CASES, indirect=["store_settings"])
async def test_no_client_mistake_gets_a_5xx_or_a_non_json_error(store_settings: Settings, group: str) -> None:
    examples = EXAMPLES_PER_GROUP // 5 if group == "ops" else EXAMPLES_PER_GROUP  # health and this document
    # A low per-session limit, so that the 429s (and their Retry-After) are part of every run.
    async with serve_hub(store_settings.with_overrides(rate_limit_session="3/minute")) as hub:
        seeds = await seed(hub)
        if group == "off the document":
            sweep, strategy = [], off_document_calls(seeds)
        else:
            operations = operations_tagged(group)
            sweep, strategy = sweep_calls(seeds, operations), calls(seeds, operations)
        statuses = await asyncio.to_thread(fuzz, seeds, sweep, strategy, examples)
    assert sum(statuses.values()) >= examples // 2, statuses
    if group != "off the document":
        assert len([s for s in statuses if 200 <= s < 300]) >= 1, f"no happy path ran: {statuses}"
    if group not in ("ops", "off the document"):
        assert len([s for s in statuses if 400 <= s < 500]) >= 4, f"too few kinds of error: {statuses}"
    if group == "chat":
        assert 429 in statuses, f"no rate limit reached: {statuses}"
