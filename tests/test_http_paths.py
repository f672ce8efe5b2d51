"""The product page's three HTTP paths, their CORS and CSRF rules, SSE streaming and history."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import pytest

from hub.settings import Settings
from hub.store.models import Tenant
from hub.store.widget_keys import revoke_widget_key
from tests.accounts import create_tenant, create_user, create_widget_key
from tests.conftest import RunningHub, serve_hub, visitor

SHOP = "https://shop.example.com"


async def platform(hub: RunningHub) -> Tenant:
    return await create_tenant(hub.node.engine, name="Office16852", business_id="office16852-platform")


async def agent_token(hub: RunningHub, tenant: Tenant, role: str = "agent") -> str:
    email = f"{role}@{tenant.business_id}.example.com"
    await create_user(hub.node.engine, tenant_id=tenant.id, email=email, password="agent-pass-1", role=role)
    async with httpx.AsyncClient(base_url=hub.http) as client:
        response = await client.post("/api/auth/login", json={"email": email, "password": "agent-pass-1"})
    token: str = response.json()["token"]
    return token


def parse_sse(body: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], orjson.loads(lines["data"])))
    return events


async def test_public_chat_answers_with_the_ai_reply_on_the_platform_tenant_by_default(hub: RunningHub) -> None:
    await platform(hub)
    async with httpx.AsyncClient(base_url=hub.http) as client:
        response = await client.post("/api/chat", json={"session_id": "session_123", "message": "Hello, who are you?"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["session_id"] == "session_123" and body["mode"] == "ai" and body["seq"] == 2
        assert "Office16852" in body["reply"] and body["messages"] == []
        again = await client.post("/api/chat", json={"session_id": "session_123", "message": "thanks"})
        assert again.json()["seq"] == 4, "the visitor cookie keeps the same conversation"


async def test_public_chat_with_business_id_and_same_origin_fetch(hub: RunningHub) -> None:
    shop = await hub.tenant()
    async with httpx.AsyncClient(base_url=hub.http, headers={"Origin": hub.http}) as client:
        response = await client.post(
            "/api/chat", json={"session_id": "s1", "message": "hello", "business_id": shop.business_id}
        )
    assert response.status_code == 200 and "Acme Test" in response.json()["reply"]


async def test_public_chat_from_another_site_gets_403_without_cors_headers(hub: RunningHub) -> None:
    await platform(hub)
    async with httpx.AsyncClient(base_url=hub.http, headers={"Origin": "https://evil.example.net"}) as client:
        response = await client.post("/api/chat", json={"session_id": "s1", "message": "hello"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "origin_not_allowed"
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


async def test_guessed_session_id_opens_a_separate_conversation(hub: RunningHub) -> None:
    await platform(hub)
    async with httpx.AsyncClient(base_url=hub.http) as owner, httpx.AsyncClient(base_url=hub.http) as guesser:
        await owner.post("/api/chat", json={"session_id": "session_123", "message": "my order is 42, my secret"})
        stolen = await guesser.post("/api/chat", json={"session_id": "session_123", "message": "what did I say?"})
        assert stolen.json()["seq"] == 2, "the guesser's session is new: nothing of the owner's is in it"
        follow_up = await owner.post("/api/chat", json={"session_id": "session_123", "message": "thanks"})
        assert follow_up.json()["seq"] == 4, "and nothing of the guesser's reached the owner's"


async def test_public_chat_streams_tokens_as_sse(hub: RunningHub) -> None:
    await platform(hub)
    async with httpx.AsyncClient(base_url=hub.http) as client:
        response = await client.post(
            "/api/chat",
            json={"session_id": "s-sse", "message": "who are you?"},
            headers={"Accept": "text/event-stream"},
        )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert names[0] == "message" and names[-1] == "done" and names.count("token") > 3
    tokens = "".join(str(data["text"]) for name, data in events if name == "token")
    assert events[-1][1]["reply"] == tokens


async def test_widget_chat_needs_a_valid_key_and_an_allowed_origin(hub: RunningHub) -> None:
    shop = await hub.tenant()
    key = await create_widget_key(hub.node.engine, shop.id, [SHOP])
    async with httpx.AsyncClient(base_url=hub.http) as client:
        body = {"session_id": "w1", "message": "hello"}
        missing = await client.post("/api/widget/chat", json=body, headers={"Origin": SHOP})
        unknown = await client.post("/api/widget/chat", json=body, headers={"Origin": SHOP, "X-Widget-Key": "pk_x"})
        assert missing.status_code == unknown.status_code == 401
        evil = await client.post(
            "/api/widget/chat", json=body, headers={"Origin": "https://evil.example.net", "X-Widget-Key": key.key}
        )
        assert evil.status_code == 403
        assert not [name for name in evil.headers if name.lower().startswith("access-control-")]
        ok = await client.post("/api/widget/chat", json=body, headers={"Origin": SHOP, "X-Widget-Key": key.key})
        assert ok.status_code == 200, ok.text
        assert ok.headers["access-control-allow-origin"] == SHOP and ok.headers["vary"] == "Origin"
        first = ok.json()
        assert first["reply"] and first["visitor_token"]
        again = await client.post(
            "/api/widget/chat",
            json={"session_id": "w1", "message": "thanks"},
            headers={"Origin": SHOP, "X-Widget-Key": key.key, "X-Visitor-Token": first["visitor_token"]},
        )
        assert again.json()["seq"] == 4
        await revoke_widget_key(hub.node.engine, shop.id, key.key)
        revoked = await client.post("/api/widget/chat", json=body, headers={"Origin": SHOP, "X-Widget-Key": key.key})
        assert revoked.status_code == 401


async def test_a_streamed_widget_answer_names_its_visitor_before_its_first_event(hub: RunningHub) -> None:
    """The visitor token is the answer's header too, readable by the page's script: a stream cut before its
    ``done`` event still leaves the page its visitor (and the token its ratings need)."""
    shop = await hub.tenant()
    key = await create_widget_key(hub.node.engine, shop.id, [SHOP])
    headers = {"Origin": SHOP, "X-Widget-Key": key.key, "Accept": "text/event-stream"}
    async with (
        httpx.AsyncClient(base_url=hub.http) as client,
        client.stream(
            "POST", "/api/widget/chat", json={"session_id": "w1", "message": "hello"}, headers=headers
        ) as sse,
    ):
        token = sse.headers["x-visitor-token"]
        assert "X-Visitor-Token" in sse.headers["access-control-expose-headers"].split(", ")
        assert "Retry-After" in sse.headers["access-control-expose-headers"].split(", ")
        body = (await sse.aread()).decode()
    done = body.split("event: done\ndata: ")[1]
    assert orjson.loads(done)["visitor_token"] == token


async def test_widget_preflight_only_for_allowed_origins(hub: RunningHub) -> None:
    shop = await hub.tenant()
    await create_widget_key(hub.node.engine, shop.id, ["https://*.example.com"])
    async with httpx.AsyncClient(base_url=hub.http) as client:
        request_headers = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-widget-key"}
        allowed = await client.options("/api/widget/chat", headers={"Origin": SHOP, **request_headers})
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == SHOP
        assert "X-Widget-Key" in allowed.headers["access-control-allow-headers"]
        assert "POST" in allowed.headers["access-control-allow-methods"]
        for origin in ("https://evil.example.net", "https://example.com.evil.net", "https://example.com"):
            refused = await client.options("/api/widget/chat", headers={"Origin": origin, **request_headers})
            assert refused.status_code == 403, origin
            assert not [name for name in refused.headers if name.lower().startswith("access-control-")]


async def test_app_paths_refuse_anonymous_callers_and_point_to_public_chat(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        for path in ("/api/chat/session", "/api/chat/message"):
            response = await client.post(path, json={"session_id": "s", "message": "hi"})
            assert response.status_code == 401
            assert "POST /api/chat" in response.json()["error"]["message"]


async def test_app_paths_need_chat_manage(hub: RunningHub) -> None:
    shop = await hub.tenant()
    await create_user(
        hub.node.engine,
        tenant_id=shop.id,
        email="c@shop.example.com",
        password="customer-1",
        role="customer",
        kind="customer",
    )
    async with httpx.AsyncClient(base_url=hub.http) as client:
        login = await client.post(
            "/api/customers/auth/login", json={"email": "c@shop.example.com", "password": "customer-1"}
        )
        token = login.json()["token"]
        response = await client.post(
            "/api/chat/message", json={"session_id": "s", "message": "hi"}, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 403


async def test_agent_message_reaches_the_visitors_websocket_live(hub: RunningHub) -> None:
    shop = await hub.tenant()
    token = await agent_token(hub, shop)
    async with visitor(hub.ws, shop.id) as client:
        await client.say("hello")
        await client.ai_reply()
        async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as app:
            posted = await app.post(
                "/api/chat/message", json={"session_id": client.ready["session_id"], "message": "Hi, I'm Ann."}
            )
            assert posted.status_code == 200 and posted.json()["seq"] == 3
            frame = await client.recv()
            assert frame["role"] == "agent" and frame["text"] == "Hi, I'm Ann." and frame["seq"] == 3
            history = await app.get(f"/api/chat/history/{client.ready['session_id']}?after_seq=1")
            assert [m["seq"] for m in history.json()["messages"]] == [2, 3]


async def test_agents_only_reach_their_own_tenants_sessions(hub: RunningHub) -> None:
    shop, other = await hub.tenant(), await hub.tenant()
    token = await agent_token(hub, other)
    async with visitor(hub.ws, shop.id) as client:
        await client.say("hello")
        await client.ai_reply()
        session_id = client.ready["session_id"]
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as app:
        assert (await app.get(f"/api/chat/history/{session_id}")).status_code == 404
        write = await app.post("/api/chat/message", json={"session_id": session_id, "message": "x"})
        assert write.status_code == 404
        other_tenant = await app.post(
            "/api/chat/message", json={"session_id": session_id, "message": "x", "business_id": shop.business_id}
        )
        assert other_tenant.status_code == 403


async def test_cookie_session_needs_csrf_on_app_paths(hub: RunningHub) -> None:
    shop = await hub.tenant()
    await create_user(
        hub.node.engine, tenant_id=shop.id, email="a@shop.example.com", password="agent-pass-1", role="agent"
    )
    async with httpx.AsyncClient(base_url=hub.http) as client:
        login = await client.post("/api/auth/login", json={"email": "a@shop.example.com", "password": "agent-pass-1"})
        without = await client.post("/api/chat/session", json={})
        assert without.status_code == 403
        made = await client.post("/api/chat/session", json={}, headers={"X-CSRF-Token": login.json()["csrf_token"]})
        assert made.status_code == 201 and made.json()["session_id"].startswith("s_")


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status"),
    [
        ("/api/chat", b"{", "application/json", 400),
        ("/api/chat", b'{"session_id": "s"}', "application/json", 400),
        ("/api/chat", b'{"session_id": 1, "message": "x"}', "application/json", 400),
        ("/api/chat", b'{"session_id": "s", "message": "x"}', "text/plain", 415),
        ("/api/chat", b'{"session_id": "s", "message": "' + b"x" * 5000 + b'"}', "application/json", 413),
        ("/api/chat", b'{"session_id": "s", "message": "x", "business_id": "nope"}', "application/json", 404),
    ],
)
async def test_bad_requests_get_json_errors_never_500(
    hub: RunningHub, path: str, body: bytes, content_type: str, status: int
) -> None:
    await platform(hub)
    async with httpx.AsyncClient(base_url=hub.http) as client:
        response = await client.post(path, content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert set(response.json()["error"]) == {"code", "message"}


async def test_requests_over_the_per_session_limit_get_429_with_retry_after(settings: Settings) -> None:
    # The counters are sliding windows aligned to the clock whose previous window weighs rounded down: a
    # burst that crosses a boundary gets one more through. So the burst starts right after one.
    async with serve_hub(settings.with_overrides(rate_limit_session="5/10 seconds")) as hub:
        await platform(hub)
        async with httpx.AsyncClient(base_url=hub.http) as client:
            statuses = []
            await asyncio.sleep(10 - time.time() % 10)
            for n in range(7):
                response = await client.post("/api/chat", json={"session_id": "busy", "message": f"thanks {n}"})
                statuses.append(response.status_code)
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    assert int(response.headers["retry-after"]) >= 1


async def test_owner_manages_widget_keys_and_revoked_keys_stop_working(hub: RunningHub) -> None:
    shop = await hub.tenant()
    owner = await agent_token(hub, shop, role="owner")
    agent = await agent_token(hub, shop, role="agent")
    async with httpx.AsyncClient(base_url=hub.http) as client:
        as_owner = {"Authorization": f"Bearer {owner}"}
        refused = await client.post(
            "/api/widget-keys", json={"origins": [SHOP]}, headers={"Authorization": f"Bearer {agent}"}
        )
        assert refused.status_code == 403
        bad = await client.post("/api/widget-keys", json={"origins": ["not an origin"]}, headers=as_owner)
        assert bad.status_code == 400
        made = await client.post(
            "/api/widget-keys", json={"origins": [SHOP, "http://localhost:*"], "mode": "test"}, headers=as_owner
        )
        assert made.status_code == 201
        key = made.json()
        assert key["key"].startswith("pk_test_") and key["origins"] == [SHOP, "http://localhost:*"]
        listed = (await client.get("/api/widget-keys", headers=as_owner)).json()["widget_keys"]
        assert [k["key"] for k in listed] == [key["key"]]
        dev = await client.post(
            "/api/widget/chat",
            json={"session_id": "w", "message": "hi"},
            headers={"Origin": "http://localhost:5173", "X-Widget-Key": key["key"]},
        )
        assert dev.status_code == 200, "the port wildcard admits any local dev server"
        stranger = await agent_token(hub, await hub.tenant(), role="owner")
        foreign = await client.delete(f"/api/widget-keys/{key['key']}", headers={"Authorization": f"Bearer {stranger}"})
        assert foreign.status_code == 404, "another tenant's owner cannot touch this key"
        assert (await client.delete(f"/api/widget-keys/{key['key']}", headers=as_owner)).status_code == 204
        assert (await client.delete(f"/api/widget-keys/{key['key']}", headers=as_owner)).status_code == 404
        gone = await client.post(
            "/api/widget/chat",
            json={"session_id": "w", "message": "hi"},
            headers={"Origin": SHOP, "X-Widget-Key": key["key"]},
        )
        assert gone.status_code == 401


async def test_widget_and_app_paths_stream_sse_when_asked(hub: RunningHub) -> None:
    shop = await hub.tenant()
    key = await create_widget_key(hub.node.engine, shop.id, [SHOP])
    token = await agent_token(hub, shop)
    async with httpx.AsyncClient(base_url=hub.http) as client:
        widget = await client.post(
            "/api/widget/chat",
            json={"session_id": "sse", "message": "who are you?"},
            headers={"Origin": SHOP, "X-Widget-Key": key.key, "Accept": "text/event-stream"},
        )
        assert widget.headers["access-control-allow-origin"] == SHOP
        events = parse_sse(widget.text)
        assert [name for name, _ in events].count("token") > 3 and events[-1][0] == "done"
        assert events[-1][1]["visitor_token"]
        session = await client.post("/api/chat/session", headers={"Authorization": f"Bearer {token}"})
        app = await client.post(
            "/api/chat/message",
            json={"session_id": session.json()["session_id"], "message": "Hello from the team"},
            headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
        )
        assert [name for name, _ in parse_sse(app.text)] == ["message", "done"]


async def test_rate_limits_and_body_size_are_configurable(settings: Settings) -> None:
    # Per hour: counters turn over at whole periods, where one more may pass, and a minute would turn mid-test.
    strict = settings.with_overrides(rate_limit_session="2/hour", max_body_bytes=2048)
    async with serve_hub(strict) as small_hub:
        await platform(small_hub)
        async with httpx.AsyncClient(base_url=small_hub.http) as client:
            codes = [
                (await client.post("/api/chat", json={"session_id": "s", "message": f"thanks {n}"})).status_code
                for n in range(3)
            ]
            big = await client.post("/api/chat", json={"session_id": "t", "message": "x" * 3000})
    assert codes == [200, 200, 429]
    assert big.status_code == 413


async def test_agent_lines_reach_a_legacy_http_visitor_once(settings: Settings) -> None:
    async with serve_hub(settings.with_overrides(ai_provider="none")) as quiet_hub:
        shop = await quiet_hub.tenant()
        token = await agent_token(quiet_hub, shop)
        async with httpx.AsyncClient(base_url=quiet_hub.http) as visitor_client:
            body = {"session_id": "legacy", "message": "hello?", "business_id": shop.business_id}
            first = (await visitor_client.post("/api/chat", json=body)).json()
            assert first["reply"] is None and first["messages"] == []
            async with quiet_hub.node.engine.connect() as connection:
                from sqlalchemy import select

                from hub.store.tables import chat_sessions

                session_id = await connection.scalar(
                    select(chat_sessions.c.id).where(chat_sessions.c.tenant_id == shop.id)
                )
            async with httpx.AsyncClient(base_url=quiet_hub.http, headers={"Authorization": f"Bearer {token}"}) as app:
                await app.post("/api/chat/message", json={"session_id": session_id, "message": "Ann here, hi!"})
            second = (await visitor_client.post("/api/chat", json={**body, "message": "great"})).json()
            third = (await visitor_client.post("/api/chat", json={**body, "message": "thanks"})).json()
    assert [m["text"] for m in second["messages"]] == ["Ann here, hi!"]
    assert third["messages"] == [], "a line already shown is not repeated"


async def test_widget_errors_after_the_origin_check_are_readable_by_the_page(hub: RunningHub) -> None:
    shop = await hub.tenant()
    key = await create_widget_key(hub.node.engine, shop.id, [SHOP])
    async with httpx.AsyncClient(base_url=hub.http) as client:
        for content, content_type, status in ((b"hi", "text/plain", 415), (b"{", "application/json", 400)):
            response = await client.post(
                "/api/widget/chat",
                content=content,
                headers={"Origin": SHOP, "X-Widget-Key": key.key, "Content-Type": content_type},
            )
            assert response.status_code == status
            assert response.headers["access-control-allow-origin"] == SHOP
