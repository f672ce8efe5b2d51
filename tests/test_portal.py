"""Customer Portal: where each person lands, what the navigation offers, and Widget Setup's embed tag, keys
and live preview."""

from __future__ import annotations

import httpx
import pytest

from hub.auth.permissions import PLATFORM_BUSINESS_ID
from tests.accounts import create_tenant, create_user, create_widget_key
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
    assert '<iframe id="widget-preview" src="/portal/widget/preview"' in page.text, "the live preview's frame"
    assert 'widget.js" async></script>' not in page.text, "the widget is in the preview, not on the page itself"
    async with httpx.AsyncClient(base_url=hub.http, cookies=client.cookies) as again:
        preview = await again.get("/portal/widget/preview")
    assert preview.status_code == 200
    assert f'<script src="{hub.http}/widget/{tenant_id}/widget.js" data-bob-preview async></script>' in preview.text


async def test_agents_cannot_open_widget_setup(hub: RunningHub) -> None:
    client, _, _ = await logged_in(hub, "agent")
    try:
        assert (await client.get("/portal/widget")).status_code == 403
        assert (await client.get("/portal/widget/preview")).status_code == 403
    finally:
        await client.aclose()


async def test_portal_static_files_are_served(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        assert (await client.get("/static/portal.js")).status_code == 200
        assert (await client.get("/static/portal.css")).status_code == 200


@pytest.mark.parametrize("path", ["/", "/portal", "/portal/"])
async def test_a_newcomer_opening_the_hub_is_sent_to_the_login_page(hub: RunningHub, path: str) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        response = await client.get(path)
    assert response.status_code == 303 and response.headers["location"] == "/portal/login"


@pytest.mark.parametrize(("role", "home"), [("owner", "/portal/widget"), ("agent", "/mission-control")])
async def test_after_logging_in_each_role_lands_on_a_page_it_may_use(hub: RunningHub, role: str, home: str) -> None:
    client, _, _ = await logged_in(hub, role)
    try:
        for path in ("/", "/portal/"):
            response = await client.get(path)
            assert response.status_code == 303 and response.headers["location"] == home
        assert (await client.get(home)).status_code == 200
    finally:
        await client.aclose()


async def test_an_agent_refused_a_portal_page_gets_a_styled_page_with_a_way_on(hub: RunningHub) -> None:
    client, _, _ = await logged_in(hub, "agent")
    try:
        page = await client.get("/portal/widget")
    finally:
        await client.aclose()
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    assert '<link rel="stylesheet" href="/static/portal.css">' in page.text
    assert "This page is for the tenant&#39;s owners and admins." in page.text
    assert 'href="/mission-control"' in page.text and 'id="logout"' in page.text and 'href="/docs"' in page.text
    assert 'href="/portal/widget"' not in page.text and 'href="/portal/team"' not in page.text, "only usable pages"


async def test_the_navigation_offers_an_owner_every_page_of_its_role_and_no_platform_page(hub: RunningHub) -> None:
    client, _, _ = await logged_in(hub, "owner")
    try:
        page = await client.get("/portal/widget")
        refused = await client.get("/portal/tenants")
    finally:
        await client.aclose()
    for path in ("/portal/widget", "/portal/team", "/portal/personas", "/portal/webhooks", "/portal/plan"):
        assert f'href="{path}"' in page.text
    assert 'href="/mission-control"' in page.text and 'href="/docs"' in page.text
    assert 'href="/portal/tenants"' not in page.text
    assert refused.status_code == 403 and "Registering tenants is for platform admins." in refused.text


async def test_a_platform_admin_is_offered_registering_a_tenant(hub: RunningHub) -> None:
    platform = await create_tenant(hub.node.engine, name="Platform", business_id=PLATFORM_BUSINESS_ID)
    email = "root@platform.example.com"
    await create_user(hub.node.engine, tenant_id=platform.id, email=email, password="portal-pass", role="admin")
    async with httpx.AsyncClient(base_url=hub.http) as client:
        await client.post("/api/auth/login", json={"email": email, "password": "portal-pass"})
        page = await client.get("/portal/widget")
    assert 'href="/portal/tenants"' in page.text


async def test_mission_controls_login_page_is_titled_mission_control(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        page = await client.get("/mission-control/login")
    assert "Bob · Mission Control</a>" in page.text and "Customer Portal" not in page.text
