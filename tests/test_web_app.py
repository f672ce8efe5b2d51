"""Mission Control installs as a web app (manifest, icons), and every page of the hub carries its icon."""

from __future__ import annotations

import re
import struct
from urllib.parse import urljoin

import httpx
from playwright.async_api import Browser

from tests.agents import agent_account
from tests.conftest import RunningHub
from tests.test_dashboard_browser import log_in

ICON_LINK = re.compile(r'<link rel="icon" href="([^"]+)"')


def png_size(body: bytes) -> tuple[int, int]:
    assert body[:8] == b"\x89PNG\r\n\x1a\n" and body[12:16] == b"IHDR", "a PNG"
    width, height = struct.unpack(">II", body[16:24])
    return width, height


async def test_the_manifest_names_icons_that_are_served_at_their_sizes(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        answer = await client.get("/static/manifest.webmanifest")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/manifest+json")
        manifest = answer.json()
        assert manifest["start_url"] == "/mission-control" and manifest["display"] == "standalone"
        assert manifest["start_url"].startswith(manifest["scope"])
        sizes = set()
        for icon in manifest["icons"]:
            body = await client.get(icon["src"])
            assert body.status_code == 200 and body.headers["content-type"] == icon["type"], icon
            if icon["type"] == "image/png":
                width, height = png_size(body.content)
                assert f"{width}x{height}" == icon["sizes"], icon
                sizes.add(width)
        assert {192, 512} <= sizes
        assert any("maskable" in icon["purpose"] for icon in manifest["icons"])


async def test_every_page_of_the_hub_has_a_favicon_and_mission_control_its_manifest(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        for path in ("/docs", "/portal/login", "/mission-control/login"):
            page = await client.get(path)
            assert page.status_code == 200, path
            links = ICON_LINK.findall(page.text)
            assert links, f"{path} names no icon"
            for href in links:
                assert (await client.get(urljoin(hub.http + path, href))).status_code == 200, (path, href)


async def test_chromium_finds_mission_control_installable(hub: RunningHub, browser: Browser) -> None:
    tenant = await hub.tenant()
    email = await agent_account(hub.node.engine, tenant.id, "Anna")
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await log_in(page, hub, email)
        manifest = await page.evaluate("document.querySelector('link[rel=manifest]').href")
        assert manifest == f"{hub.http}/static/manifest.webmanifest"
        cdp = await context.new_cdp_session(page)
        found = await cdp.send("Page.getAppManifest")
        assert not found.get("errors"), found["errors"]
        found = await cdp.send("Page.getInstallabilityErrors")
        # A test context is incognito, where Chromium installs nothing: that is the only objection allowed.
        errors = [error["errorId"] for error in found["installabilityErrors"]]
        assert errors in ([], ["in-incognito"]), errors
    finally:
        await context.close()
