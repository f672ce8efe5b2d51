"""Every limit the OpenAPI document states is enforced, at its exact boundary.

The test walks the served document: for each ``maxLength``, ``minLength``, ``maxItems``, ``minItems``,
``enum``, ``minimum`` and ``maximum`` of a request body (nested objects and array items included) or
of a path or query parameter, it sends an otherwise valid request with a value just past the limit
(a 4xx in the one error shape, naming the field) and one with a value at the limit (anything but
that same error). A limit the handler forgets, or checks one off, fails here.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from hub.auth.permissions import PLATFORM_BUSINESS_ID
from hub.settings import Settings
from hub.store.tenants import get_tenant_by_business_id
from tests.accounts import create_tenant, create_widget_key
from tests.agents import PASSWORD, agent_account, login
from tests.conftest import RunningHub, serve_hub
from tests.push_receiver import Device
from tests.test_pricebook import V1_PLANS

SHOP = "https://shop.example.com"
KEYWORDS = ("maxLength", "minLength", "maxItems", "minItems", "enum", "minimum", "maximum")
Path = tuple[str | int, ...]


@dataclass
class Seeds:
    tokens: dict[str, str]  # admin (platform) and owner (of the shop, on the enterprise plan)
    owner_email: str
    widget_key: str
    path_values: dict[str, str]  # a path parameter's name -> an existing one
    owner_id: str = ""  # the owner's account (a staff member conversations can be assigned to)


@dataclass
class Request:
    method: str
    template: str
    path_parameters: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # None: no body


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def valid_body(name: str, seeds: Seeds) -> Any:
    """A body the handler accepts, per request model (fresh names where they must be unique)."""
    bodies: dict[str, Callable[[], Any]] = {
        "LoginRequest": lambda: {"email": seeds.owner_email, "password": PASSWORD},
        "ChatRequest": lambda: {"message": "hello", "session_id": "limits"},
        "WidgetChatRequest": lambda: {"message": "hello", "session_id": "limits"},
        "AppSessionRequest": lambda: {},
        "AppMessageRequest": lambda: {"session_id": seeds.path_values["session_id"], "message": "hello"},
        "PricebookDraftRequest": lambda: {"plans": copy.deepcopy(V1_PLANS)},
        "TenantRequest": lambda: {
            "name": "Limits",
            "business_id": unique("limits"),
            "owner": {"email": f"{unique('owner')}@limits.example.com", "password": PASSWORD},
        },
        "TeammateRequest": lambda: {"email": f"{unique('agent')}@limits.example.com", "password": PASSWORD},
        "PersonaRequest": lambda: {"name": "Ada", "systemPrompt": "Be kind."},
        "PersonaChange": lambda: {},
        "WebhookRequest": lambda: {"url": "https://example.com/hook", "events": ["credits.exhausted"]},
        "WebhookChange": lambda: {"disabled": True},
        "WidgetKeyRequest": lambda: {"origins": []},
        "SettingsChange": lambda: {
            "office_hours": {
                "time_zone": "Europe/Warsaw",
                **{
                    day: [{"opens": "09:00", "closes": "17:00"}]
                    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
                },
            }
        },
        "PushSubscriptionRequest": lambda: Device("limits", "https://push.example.com/send/limits").subscription(),
        "PushUnsubscribeRequest": lambda: {"endpoint": "https://push.example.com/send/limits"},
        "KnowledgeRequest": lambda: {"title": "Hours", "body": "9 to 5.", "url": "https://example.com/hours"},
        "KnowledgeChange": lambda: {},
        "WidgetRating": lambda: {"session_id": "limits", "message_id": "m-1", "helpful": True},
        "WidgetSessionRating": lambda: {"session_id": "limits", "stars": 5},
        "ProfileChange": lambda: {"name": "Olga"},
        "CannedRequest": lambda: {"title": "Hi", "text": "Hello!"},
        "CannedChange": lambda: {},
        "AppearanceChange": lambda: {},
        "AssigneeRequest": lambda: {"agent_id": seeds.owner_id},
        "TransferRequest": lambda: {"agent_id": seeds.owner_id, "note": "Over to you"},
        "LabelRequest": lambda: {"name": unique("label"), "color": "blue"},
        "LabelChange": lambda: {},
        "NoteRequest": lambda: {"text": "Refund approved", "mentions": [seeds.owner_id]},
        "KnowledgeImport": lambda: {"format": "markdown", "files": [{"name": "hours.md", "content": "# Hours\n9-5"}]},
        "InviteRequest": lambda: {"email": f"{unique('invitee')}@limits.example.com", "name": "Ivy"},
        "AcceptRequest": lambda: {"token": "inv_unknown", "password": PASSWORD, "name": "Ivy"},
        "ResetRequest": lambda: {"email": seeds.owner_email},
        "NewPasswordRequest": lambda: {"token": "pwr_unknown", "password": PASSWORD},
        "ReadRequest": lambda: {"ids": ["no-such-mention"]},  # 404 unknown_mention_id: past every limit
    }
    return bodies[name]()


def text(name: str | int, length: int) -> str:
    """A string of exactly ``length`` that is otherwise valid for the field it goes to, where it can be."""
    if name == "email" and length >= 6:
        local = "a" * min(64, length - 5)
        return f"{local}@{'b' * (length - len(local) - 5)}.com"
    if name == "url" and length >= 20:
        return "https://example.com/" + "a" * (length - 20)
    return "x" * length


def items(name: str | int, baseline: Any, count: int, schema: dict[str, Any]) -> list[Any]:
    if isinstance(baseline, list) and baseline:
        return list(itertools.islice(itertools.cycle(baseline), count))
    if "enum" in schema.get("items", {}):
        return list(itertools.islice(itertools.cycle(schema["items"]["enum"]), count))
    if name == "origins":
        return [f"https://a{n}.example.com" for n in range(count)]
    raise AssertionError(f"no items for {name!r}")


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def limited(schema: dict[str, Any], document: dict[str, Any], path: Path = ()) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every schema node below ``schema`` that states a limit, with where it is."""
    schema = resolve(schema, document)
    for option in schema.get("anyOf", ()):
        if option != {"type": "null"}:
            yield from limited(option, document, path)
    if any(keyword in schema for keyword in KEYWORDS):
        yield path, schema
    for name, prop in schema.get("properties", {}).items():
        yield from limited(prop, document, (*path, name))
    if "items" in schema:
        yield from limited(schema["items"], document, (*path, 0))


def get_in(value: Any, path: Path) -> Any:
    for step in path:
        if isinstance(step, int):
            value = value[step] if isinstance(value, list) and len(value) > step else None
        else:
            value = value.get(step) if isinstance(value, dict) else None
    return value


def set_in(value: Any, path: Path, new: Any) -> Any:
    """A copy of ``value`` with ``new`` at ``path``, making the objects and arrays on the way."""
    if not path:
        return new
    step, rest = path[0], path[1:]
    if isinstance(step, int):
        found = list(value) if isinstance(value, list) else []
        found += [None] * (step + 1 - len(found))
        found[step] = set_in(found[step], rest, new)
        return found
    fields = dict(value) if isinstance(value, dict) else {}
    fields[step] = set_in(fields.get(step), rest, new)
    return fields


def boundary(keyword: str, schema: dict[str, Any], name: str | int, current: Any) -> tuple[Any, Any]:
    """(a value just past the limit, a value at it)."""
    if keyword == "maxLength":
        return text(name, schema[keyword] + 1), text(name, schema[keyword])
    if keyword == "minLength":
        return text(name, schema[keyword] - 1), text(name, schema[keyword])
    if keyword == "maxItems":
        return items(name, current, schema[keyword] + 1, schema), items(name, current, schema[keyword], schema)
    if keyword == "minItems":
        return items(name, current, schema[keyword] - 1, schema), items(name, current, schema[keyword], schema)
    if keyword == "minimum":
        return schema[keyword] - 1, schema[keyword]
    if keyword == "maximum":
        return schema[keyword] + 1, schema[keyword]
    members = schema["enum"]
    past = False if members == [True] else f"not-{members[0]}"
    return past, current if current in members else members[0]


@dataclass
class Case:
    request: Request
    where: str  # the field or parameter, as the error message names it
    keyword: str
    past: Any
    at: Any
    apply: Callable[[Request, Any], Request]


# Query parameters an operation needs, so a case about another parameter is not refused for their absence.
VALID_QUERIES = {"/api/conversations/search": {"q": "refund"}}


def base_request(template: str, method: str, operation: dict[str, Any], seeds: Seeds) -> Request:
    names = [parameter["name"] for parameter in operation.get("parameters", []) if parameter["in"] == "path"]
    request = Request(method.upper(), template, {name: seeds.path_values[name] for name in names})
    request.query = dict(VALID_QUERIES.get(template, {}))
    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    if "widgetKey" in schemes:
        request.headers |= {"X-Widget-Key": seeds.widget_key, "Origin": SHOP}
    elif schemes:
        admin = template.startswith(("/api/admin/", "/api/analytics/"))
        request.headers["Authorization"] = f"Bearer {seeds.tokens['admin' if admin else 'owner']}"
    if "requestBody" in operation:
        name = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        request.body = valid_body(name, seeds)
    return request


def cases(
    template: str, method: str, operation: dict[str, Any], seeds: Seeds, document: dict[str, Any]
) -> Iterator[Case]:
    def make() -> Request:
        return base_request(template, method, operation, seeds)

    for parameter in operation.get("parameters", []):
        if parameter["in"] not in ("path", "query"):
            continue
        for keyword in KEYWORDS:
            if keyword in parameter["schema"]:
                name, location = parameter["name"], parameter["in"]
                past, at = boundary(keyword, parameter["schema"], name, None)

                def apply(request: Request, value: Any, name: str = name, location: str = location) -> Request:
                    (request.query if location == "query" else request.path_parameters)[name] = str(value)
                    return request

                yield Case(make(), name, keyword, past, at, apply)
    if "requestBody" in operation:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        for path, node in limited(schema, document):
            for keyword in KEYWORDS:
                if keyword in node:
                    request = make()
                    current = get_in(request.body, path)
                    past, at = boundary(keyword, node, path[-1], current)

                    def apply(request: Request, value: Any, path: Path = path) -> Request:
                        request.body = set_in(request.body, path, value)
                        return request

                    named = next(str(step) for step in reversed(path) if isinstance(step, str))
                    yield Case(request, named, keyword, past, at, apply)


async def send(client: httpx.AsyncClient, request: Request) -> httpx.Response:
    path = request.template
    for name, value in request.path_parameters.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return await client.request(request.method, path, params=request.query, headers=request.headers, json=request.body)


async def seed(hub: RunningHub, client: httpx.AsyncClient) -> Seeds:
    engine = hub.node.engine
    # The PostgreSQL database is shared by the whole run: reuse its platform tenant.
    platform = await get_tenant_by_business_id(engine, PLATFORM_BUSINESS_ID) or await create_tenant(
        engine, name="Office16852", business_id=PLATFORM_BUSINESS_ID
    )
    shop = await create_tenant(engine, name="Limits Shop", business_id=unique("shop"), plan="enterprise")
    owner_email = await agent_account(engine, shop.id, "Olga", "owner")
    owner_login = await login(hub.http, owner_email)
    tokens = {
        "admin": (await login(hub.http, await agent_account(engine, platform.id, "Root", "admin")))["token"],
        "owner": owner_login["token"],
    }
    widget_key = (await create_widget_key(engine, shop.id, [SHOP])).key
    spare_key = (await create_widget_key(engine, shop.id, [SHOP])).key
    owner = {"Authorization": f"Bearer {tokens['owner']}"}
    session = (await client.post("/api/chat/session", headers=owner)).json()["session_id"]
    persona = (await client.post("/api/personas", json={"name": "Bea", "systemPrompt": "Hi."}, headers=owner)).json()
    endpoint = await client.post(
        "/api/webhooks", json={"url": "https://example.com/hook", "events": ["credits.exhausted"]}, headers=owner
    )
    entry = await client.post("/api/knowledge", json={"title": "Hours", "body": "9 to 5."}, headers=owner)
    canned = await client.post("/api/canned-replies", json={"title": "Hi", "text": "Hello!"}, headers=owner)
    invite = await client.post("/api/invites", json={"email": f"{unique('ivy')}@limits.example.com"}, headers=owner)
    agent = (await login(hub.http, await agent_account(engine, shop.id, "Ann")))["user"]
    label = await client.post("/api/labels", json={"name": "Refund"}, headers=owner)
    path_values = {
        "invite_id": invite.json()["invite"]["id"],
        "user_id": agent["id"],
        "label_id": label.json()["id"],
        "reply_id": canned.json()["id"],
        "entry_id": entry.json()["id"],
        "session_id": session,
        "persona_id": persona["id"],
        "endpoint_id": endpoint.json()["id"],
        "delivery_id": "no-such-delivery",
        "key": spare_key,
        "version": "1",
    }
    return Seeds(tokens, owner_email, widget_key, path_values, owner_login["user"]["id"])


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Both stores: PostgreSQL's integers are bounded and its text refuses NUL, where SQLite shrugs."""
    if request.param == "postgresql":
        return settings.with_overrides(database_url=request.getfixturevalue("postgres_url"))
    return settings


async def test_every_documented_limit_is_enforced_at_its_boundary(store_settings: Settings) -> None:
    relaxed = store_settings.with_overrides(rate_limit_address="100000/minute", rate_limit_session="100000/minute")
    async with serve_hub(relaxed) as hub, httpx.AsyncClient(base_url=hub.http, timeout=30) as client:
        seeds = await seed(hub, client)
        document = (await client.get("/api/openapi.json")).json()
        checked: set[tuple[str, str, str]] = set()
        for template, item in document["paths"].items():
            for method, operation in item.items():
                for case in cases(template, method, operation, seeds, document):
                    what = f"{method.upper()} {template} {case.where} {case.keyword}"
                    refused = await send(client, case.apply(copy.deepcopy(case.request), case.past))
                    assert 400 <= refused.status_code < 500, f"{what}: {case.past!r:.80} got {refused.status_code}"
                    error = refused.json()["error"]
                    assert set(error) == {"code", "message"}, what
                    assert case.where in error["message"], f"{what}: the message names the field: {error}"
                    accepted = await send(client, case.apply(copy.deepcopy(case.request), case.at))
                    assert accepted.status_code < 500, f"{what}: {case.at!r:.80} at the limit got {accepted.text}"
                    same = accepted.status_code == refused.status_code and accepted.json().get("error") == error
                    assert not same, f"{what}: {case.at!r:.80} at the limit got the same refusal: {error}"
                    checked.add((template, case.where, case.keyword))
    # The walk found the limits that matter, not nothing.
    for expected in [
        ("/api/chat", "message", "maxLength"),
        ("/api/widget/chat", "session_id", "maxLength"),
        ("/api/admin/tenants", "password", "minLength"),
        ("/api/admin/tenants", "origins", "maxItems"),
        ("/api/admin/pricebook/versions", "plans", "minItems"),
        ("/api/admin/pricebook/versions", "seats", "minimum"),
        ("/api/personas", "systemPrompt", "maxLength"),
        ("/api/personas/{persona_id}", "active", "enum"),
        ("/api/webhooks", "events", "enum"),
        ("/api/metrics/business", "days", "maximum"),
        ("/api/chat/history/{session_id}", "after_seq", "maximum"),
        ("/api/pricebook/versions/{version}", "version", "minimum"),
        ("/api/widget-keys/{key}", "key", "maxLength"),
        ("/api/settings", "time_zone", "maxLength"),
        ("/api/settings", "mon", "maxItems"),
        ("/api/widget/chat", "email", "maxLength"),
        ("/api/push/subscriptions", "endpoint", "maxLength"),
        ("/api/push/subscriptions", "p256dh", "maxLength"),
        ("/api/push/subscriptions", "auth", "maxLength"),
        ("/api/knowledge", "body", "maxLength"),
        ("/api/knowledge/{entry_id}", "language", "enum"),
        ("/api/knowledge/import", "files", "maxItems"),
        ("/api/knowledge/import", "content", "maxLength"),
        ("/api/widget/rating", "message_id", "maxLength"),
        ("/api/widget/session-rating", "stars", "maximum"),
        ("/api/widget/session-rating", "comment", "maxLength"),
        ("/api/invites", "role", "enum"),
        ("/api/invites/accept", "password", "minLength"),
        ("/api/invites/{invite_id}", "invite_id", "maxLength"),
        ("/api/users/{user_id}/deactivate", "user_id", "maxLength"),
        ("/api/auth/password-reset/complete", "token", "maxLength"),
        ("/api/chat/sessions/{session_id}/transfer", "note", "maxLength"),
        ("/api/chat/sessions/{session_id}/assignee", "agent_id", "maxLength"),
        ("/api/chat/sessions", "view", "enum"),
        ("/api/labels", "name", "maxLength"),
        ("/api/labels/{label_id}", "color", "enum"),
        ("/api/conversations/search", "q", "maxLength"),
        ("/api/conversations/search", "limit", "maximum"),
        ("/api/conversations/{session_id}/notes", "mentions", "maxItems"),
    ]:
        assert expected in checked, expected
    assert len(checked) >= 80, len(checked)


async def test_a_message_over_the_configured_limit_is_413_and_at_it_is_answered(settings: Settings) -> None:
    """The message limit is a setting, checked after decoding: the same boundary at another value."""
    async with serve_hub(settings.with_overrides(max_message_chars=10)) as hub:
        await create_tenant(hub.node.engine, name="Office16852", business_id=PLATFORM_BUSINESS_ID)
        async with httpx.AsyncClient(base_url=hub.http) as client:
            over = await client.post("/api/chat", json={"session_id": "s", "message": "x" * 11})
            at = await client.post("/api/chat", json={"session_id": "s", "message": "x" * 10})
    assert over.status_code == 413 and over.json()["error"]["code"] == "too_large"
    assert at.status_code == 200, at.text
