"""The security headers of each kind of answer: pages, /docs, the JSON API, widget.js and static files."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hub.app import HubApp
from hub.security_headers import SecurityHeaders
from hub.settings import Settings
from tests.accounts import create_tenant, create_user
from tests.conftest import RunningHub, serve_hub

APP_PAGE_POLICY = {
    "default-src": ["'none'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "manifest-src": ["'self'"],
    "connect-src": ["'self'"],
    "frame-src": ["'self'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
DOCS_POLICY = {
    "default-src": ["'none'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "base-uri": ["'none'"],
    "form-action": ["'none'"],
    "frame-ancestors": ["*"],
}
NOTHING_POLICY = {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}
PORTAL_PAGES = (
    "/portal/widget",
    "/portal/team",
    "/portal/personas",
    "/portal/webhooks",
    "/portal/plan",
    "/portal/analytics",
    "/portal/canned",
    "/portal/profile",
    "/mission-control",
)
ONE_YEAR = "max-age=31536000"


def policy(response: httpx.Response) -> dict[str, list[str]]:
    """The response's one Content-Security-Policy, as directive -> sources."""
    [header] = response.headers.get_list("content-security-policy")
    return {name: sources for name, *sources in (directive.split() for directive in header.split(";"))}


def assert_every_answers_headers(response: httpx.Response, hsts: str | None = None) -> None:
    assert response.headers.get_list("x-content-type-options") == ["nosniff"], response.url
    assert response.headers.get_list("referrer-policy") == ["same-origin"], response.url
    assert response.headers.get_list("strict-transport-security") == ([hsts] if hsts else []), response.url


@contextlib.asynccontextmanager
async def owner_client(hub: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    tenant = await hub.tenant()
    email = f"owner@{tenant.business_id}.example.com"
    await create_user(hub.node.engine, tenant_id=tenant.id, email=email, password="portal-pass", role="owner")
    async with httpx.AsyncClient(base_url=hub.http) as client:
        (await client.post("/api/auth/login", json={"email": email, "password": "portal-pass"})).raise_for_status()
        yield client


async def test_portal_and_mission_control_pages_allow_only_the_hubs_files_and_cannot_be_framed(
    hub: RunningHub,
) -> None:
    async with owner_client(hub) as client:
        pages = [await client.get(path) for path in ("/portal/login", "/mission-control/login", *PORTAL_PAGES)]
        pages.append(await client.get("/portal/tenants"))  # 403: not a platform admin, a styled page all the same
    for page in pages:
        assert page.status_code == (403 if page is pages[-1] else 200), page.url
        assert page.headers["content-type"].startswith("text/html"), page.url
        assert policy(page) == APP_PAGE_POLICY, page.url
        assert page.headers.get_list("x-frame-options") == ["DENY"], page.url
        assert_every_answers_headers(page)


async def test_widget_setups_live_preview_may_be_framed_by_the_hubs_own_pages_only(hub: RunningHub) -> None:
    async with owner_client(hub) as client:
        preview = await client.get("/portal/widget/preview")
    assert preview.status_code == 200 and preview.headers["content-type"].startswith("text/html")
    assert policy(preview) == {**APP_PAGE_POLICY, "frame-ancestors": ["'self'"]}
    assert preview.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert_every_answers_headers(preview)


async def test_docs_runs_no_script_and_may_be_framed_by_any_site(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        pages = [await client.get("/docs"), await client.get("/docs?lang=pl")]
    for page in pages:
        assert page.status_code == 200
        assert policy(page) == DOCS_POLICY
        assert "x-frame-options" not in page.headers
        assert_every_answers_headers(page)


async def test_api_answers_redirects_and_not_found_load_nothing_and_cannot_be_framed(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        answers = [
            await client.get("/api/health"),
            await client.get("/api/openapi.json"),
            await client.get("/api/auth/me"),  # 401, a JSON error
            await client.get("/portal/widget"),  # 303 to the login page
            await client.get("/no-such-page"),
        ]
    assert [answer.status_code for answer in answers] == [200, 200, 401, 303, 404]
    for answer in answers:
        assert policy(answer) == NOTHING_POLICY, answer.url
        assert answer.headers.get_list("x-frame-options") == ["DENY"]
        assert_every_answers_headers(answer)


async def test_widget_js_and_static_files_are_nosniff_scripts_and_styles_without_a_policy_of_their_own(
    hub: RunningHub,
) -> None:
    tenant = await hub.tenant()
    async with httpx.AsyncClient(base_url=hub.http) as client:
        widget = await client.get(f"/widget/{tenant.id}/widget.js", headers={"Accept-Encoding": "identity"})
        gzipped = await client.get(f"/widget/{tenant.id}/widget.js", headers={"Accept-Encoding": "gzip"})
        cached = await client.get(f"/widget/{tenant.id}/widget.js", headers={"If-None-Match": widget.headers["etag"]})
        unknown = await client.get("/widget/no-such-tenant/widget.js")
        script = await client.get("/static/portal.js")
        style = await client.get("/static/portal.css")
    assert [r.status_code for r in (widget, gzipped, cached, unknown, script, style)] == [200, 200, 304, 404, 200, 200]
    for answer in (widget, gzipped, unknown, script):
        assert answer.headers["content-type"].startswith("text/javascript"), answer.url
    assert style.headers["content-type"].startswith("text/css")
    for answer in (widget, gzipped, cached, unknown, script, style):
        assert "content-security-policy" not in answer.headers and "x-frame-options" not in answer.headers
        assert_every_answers_headers(answer)


async def test_a_streamed_answer_still_streams_with_its_headers(settings: Settings) -> None:
    async with serve_hub(settings.with_overrides(ai_token_delay_ms=60)) as hub:
        await create_tenant(hub.node.engine, name="Office16852", business_id="office16852-platform")
        async with (
            httpx.AsyncClient(base_url=hub.http) as client,
            client.stream(
                "POST",
                "/api/chat",
                json={"session_id": "s-stream", "message": "who are you?"},
                headers={"Accept": "text/event-stream"},
            ) as response,
        ):
            started = time.monotonic()
            arrivals = [time.monotonic() - started async for _ in response.aiter_raw()]
    assert response.headers["content-type"].startswith("text/event-stream")
    assert policy(response) == NOTHING_POLICY
    assert_every_answers_headers(response)
    assert len(arrivals) > 3 and arrivals[-1] - arrivals[0] > 0.3, "the tokens arrived one by one, not at the end"


@pytest.mark.parametrize("public_url", ["https://chat.example.com", "https://chat.example.com:8443"])
async def test_an_https_public_url_adds_hsts_and_names_its_origin_and_socket_in_the_pages_policy(
    settings: Settings, public_url: str
) -> None:
    async with serve_hub(settings.with_overrides(public_url=public_url)) as hub:
        tenant = await hub.tenant()
        async with httpx.AsyncClient(base_url=hub.http) as client:
            page = await client.get("/portal/login")
            answers = [
                page,
                await client.get("/docs"),
                await client.get("/api/health"),
                await client.get(f"/widget/{tenant.id}/widget.js"),
                await client.get("/static/portal.css"),
            ]
    for answer in answers:
        assert_every_answers_headers(answer, hsts=ONE_YEAR)
    socket = public_url.replace("https://", "wss://")
    assert policy(page) == {
        **APP_PAGE_POLICY,
        "script-src": ["'self'", public_url],
        "connect-src": ["'self'", public_url, socket],
    }


async def test_a_plain_http_public_url_gets_no_hsts(settings: Settings) -> None:
    async with serve_hub(settings.with_overrides(public_url="http://chat.example.com")) as hub:
        async with httpx.AsyncClient(base_url=hub.http) as client:
            page = await client.get("/portal/login")
    assert_every_answers_headers(page, hsts=None)
    assert policy(page)["connect-src"] == ["'self'", "http://chat.example.com", "ws://chat.example.com"]


async def test_a_header_the_handler_set_is_kept_and_a_crash_still_gets_the_headers() -> None:
    async def own_policy(request: Request) -> Response:
        return PlainTextResponse("framable", headers={"Content-Security-Policy": "frame-ancestors *"})

    async def crash(request: Request) -> Response:
        raise RuntimeError("boom")

    app = HubApp(
        routes=[Route("/own", own_policy), Route("/crash", crash)],
        security_headers=SecurityHeaders.for_hub("https://chat.example.com"),
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        own = await client.get("/own")
        crashed = await client.get("/crash")
    assert own.headers.get_list("content-security-policy") == ["frame-ancestors *"]
    assert_every_answers_headers(own, hsts=ONE_YEAR)
    assert crashed.status_code == 500 and policy(crashed) == NOTHING_POLICY
    assert_every_answers_headers(crashed, hsts=ONE_YEAR)
