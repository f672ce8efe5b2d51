"""The product page's request examples, sent as written, against a local hub.

docs/REQUEST_FLOWS.md quotes these examples; the only changes are the page's placeholders
(``https://office16852.com`` is the hub's address here, ``pk_live_...`` a real key).
"""

from __future__ import annotations

import asyncio
import json

import httpx
import requests

from hub.store.models import Tenant
from tests.accounts import create_tenant, create_user, create_widget_key
from tests.conftest import RunningHub

PLATFORM = "office16852-platform"
CUSTOMER_SITE = "https://your-customer-site.com"
# The login body of the page's platform admin (what `bob-hub serve --demo` creates).
ADMIN_LOGIN = {"email": "admin@office16852.com", "password": "your_password"}


async def platform_tenant(hub: RunningHub) -> Tenant:
    return await create_tenant(hub.node.engine, name="Office16852", business_id=PLATFORM)


async def admin_token(hub: RunningHub, tenant: Tenant) -> str:
    await create_user(
        hub.node.engine,
        tenant_id=tenant.id,
        email=ADMIN_LOGIN["email"],
        password=ADMIN_LOGIN["password"],
        role="admin",
    )
    async with httpx.AsyncClient(base_url=hub.http) as client:
        login = await client.post("/api/auth/login", json=ADMIN_LOGIN)
    assert login.status_code == 200, login.text
    token: str = login.json()["token"]
    return token


async def test_public_chat_fetch_example(hub: RunningHub) -> None:
    await platform_tenant(hub)
    session_id, user_message = "session_123", "Hello, I need help with my order"
    # fetch('/api/chat', ...) on a page of the hub's own domain: the browser adds Origin (the hub's
    # own) and keeps the bob_visitor cookie; an httpx client with a cookie jar does the same.
    async with httpx.AsyncClient(base_url=hub.http, headers={"Origin": hub.http}) as browser:
        response = await browser.post(
            "/api/chat",
            headers={"Content-Type": "application/json"},
            content=json.dumps({"session_id": session_id, "message": user_message, "business_id": PLATFORM}),
        )
        assert response.status_code == 200, response.text
        data = response.json()
        assert data["session_id"] == session_id and data["mode"] == "ai" and data["seq"] == 2
        assert isinstance(data["reply"], str) and data["reply"] and data["messages"] == []
        assert browser.cookies.get("bob_visitor")
        again = await browser.post(
            "/api/chat",
            headers={"Content-Type": "application/json"},
            content=json.dumps({"session_id": session_id, "message": "thanks", "business_id": PLATFORM}),
        )
        assert again.json()["seq"] == 4, "the cookie keeps the visitor in the same conversation"


async def test_widget_fetch_example(hub: RunningHub) -> None:
    shop = await hub.tenant()
    key = await create_widget_key(hub.node.engine, shop.id, [CUSTOMER_SITE])
    session_id, user_message = "session_123", "Hello, I need help with my order"
    async with httpx.AsyncClient() as browser:
        # A browser asks first (X-Widget-Key is not a simple header), then sends the page's request.
        preflight = await browser.options(
            f"{hub.http}/api/widget/chat",
            headers={
                "Origin": CUSTOMER_SITE,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-widget-key",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == CUSTOMER_SITE
        response = await browser.post(
            f"{hub.http}/api/widget/chat",
            headers={"Content-Type": "application/json", "X-Widget-Key": key.key, "Origin": CUSTOMER_SITE},
            content=json.dumps({"session_id": session_id, "message": user_message}),
        )
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == CUSTOMER_SITE
        data = response.json()
        assert data["session_id"] == session_id and data["reply"] and data["seq"] == 2
        follow_up = await browser.post(
            f"{hub.http}/api/widget/chat",
            headers={
                "Content-Type": "application/json",
                "X-Widget-Key": key.key,
                "Origin": CUSTOMER_SITE,
                "X-Visitor-Token": data["visitor_token"],
            },
            content=json.dumps({"session_id": session_id, "message": "thanks"}),
        )
        assert follow_up.json()["seq"] == 4, "X-Visitor-Token continues the same conversation"


async def test_authenticated_fetch_example(hub: RunningHub) -> None:
    token = await admin_token(hub, await platform_tenant(hub))
    async with httpx.AsyncClient(base_url=hub.http) as app:
        created = await app.post("/api/chat/session", headers={"Authorization": "Bearer " + token})
        assert created.status_code == 201, created.text
        session_id = created.json()["session_id"]
        response = await app.post(
            "/api/chat/message",
            headers={"Content-Type": "application/json", "Authorization": "Bearer " + token},
            content=json.dumps({"session_id": session_id, "message": "Hello from Mission Control"}),
        )
        assert response.status_code == 200, response.text
        data = response.json()
        assert data["seq"] == 1 and data["message"]["role"] == "agent"
        # The page's warning: the same request from an anonymous page is refused and pointed to /api/chat.
        anonymous = await app.post("/api/chat/message", json={"session_id": session_id, "message": "hi"})
        assert anonymous.status_code == 401 and "POST /api/chat" in anonymous.json()["error"]["message"]


async def test_python_requests_example(hub: RunningHub) -> None:
    token = await admin_token(hub, await platform_tenant(hub))
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as app:
        session_id = (await app.post("/api/chat/session")).json()["session_id"]
    user_message = "Hello, I need help with my order"
    base = hub.http  # the page's https://office16852.com

    def page_example() -> requests.Response:
        # Python — authenticated only
        response = requests.post(
            f"{base}/api/chat/message",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            json={"session_id": session_id, "message": user_message},
        )
        return response

    # requests blocks; the hub runs in this test's event loop, so the example runs in a thread.
    response = await asyncio.to_thread(page_example)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["session_id"] == session_id and data["seq"] == 1
    assert data["message"]["role"] == "agent" and data["message"]["text"] == user_message
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as app:
        history = await app.get(f"/api/chat/history/{session_id}", params={"after_seq": 0})
    assert [m["text"] for m in history.json()["messages"]] == [user_message]
