"""Customer Portal: Widget Setup shows the real embed tag, the keys and a live preview."""

from __future__ import annotations

import httpx

from tests.accounts import create_user, create_widget_key
from tests.conftest import RunningHub


async def logged_in(hub: RunningHub, role: str) -> tuple[httpx.AsyncClient, str, str]:
    tenant = await hub.tenant()
    email = f"{role}@{tenant.business_id}.example.com"
    await create_user(hub.node.engine, tenant_id=tenant.id, email=email, password="portal-pass", role=role)
    client = httpx.AsyncClient(base_url=hub.http)
    login = await client.post("/api/auth/login", json={"email": email, "password": "portal-pass"})
    return client, tenant.id, login.json()["csrf_token"]


async def test_widget_setup_needs_a_login(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        response = await client.get("/portal/widget")
        assert response.status_code == 303 and response.headers["location"] == "/portal/login"
        login = await client.get("/portal/login")
        assert login.status_code == 200 and 'type="password"' in login.text


async def test_widget_setup_shows_embed_tag_keys_and_preview(hub: RunningHub) -> None:
    client, tenant_id, _ = await logged_in(hub, "owner")
    key = await create_widget_key(hub.node.engine, tenant_id, ["https://shop.example.com"])
    try:
        page = await client.get("/portal/widget")
    finally:
        await client.aclose()
    assert page.status_code == 200 and "<h1>Widget Setup</h1>" in page.text
    tag = f"&lt;script src=&#34;{hub.http}/widget/{tenant_id}/widget.js&#34; async&gt;&lt;/script&gt;"
    assert tag in page.text, "the exact embed tag, with this hub's host and the tenant's UUID"
    assert key.key in page.text and "https://shop.example.com" in page.text
    assert f'<script src="{hub.http}/widget/{tenant_id}/widget.js" async></script>' in page.text, "live preview"


async def test_agents_cannot_open_widget_setup(hub: RunningHub) -> None:
    client, _, _ = await logged_in(hub, "agent")
    try:
        assert (await client.get("/portal/widget")).status_code == 403
    finally:
        await client.aclose()


async def test_portal_static_files_are_served(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        assert (await client.get("/static/portal.js")).status_code == 200
        assert (await client.get("/static/portal.css")).status_code == 200
