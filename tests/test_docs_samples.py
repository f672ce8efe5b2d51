"""Every code sample on the live /docs page runs as printed against this hub and its demo accounts: the
JavaScript ones in Chromium, the Python one with ``requests``, the login bodies through the login endpoint."""

from __future__ import annotations

import asyncio
import html
import re
import sys

import httpx
import orjson
from playwright.async_api import Browser

from hub.cli import _ensure_demo
from hub.settings import Settings
from hub.store.tenants import get_tenant_by_business_id
from hub.store.widget_keys import list_widget_keys
from tests.conftest import RunningHub, serve_hub

SAMPLE = re.compile(r'<code data-sample="(?P<kind>[a-z]+)">(?P<code>.*?)</code>', re.DOTALL)


async def docs_samples(hub: RunningHub) -> list[tuple[str, str]]:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        page = (await client.get("/docs")).text
    return [(match["kind"], html.unescape(match["code"])) for match in SAMPLE.finditer(page)]


async def test_every_sample_on_the_docs_page_runs_as_printed(browser: Browser, settings: Settings) -> None:
    await _ensure_demo(settings)  # what ``bob-hub serve --demo`` creates
    async with serve_hub(settings) as hub:
        samples = await docs_samples(hub)
        kinds = [kind for kind, _ in samples]
        assert kinds == ["js", "js", "login", "login", "js", "python"], kinds

        for kind, code in samples:
            if kind == "login":
                async with httpx.AsyncClient(base_url=hub.http) as client:
                    login = await client.post("/api/auth/login", json=orjson.loads(code))
                assert login.status_code == 200 and login.json()["token"], code

        business = await get_tenant_by_business_id(hub.node.engine, "business")
        assert business is not None
        [key] = await list_widget_keys(hub.node.engine, business.id)
        context = await browser.new_context(bypass_csp=True)
        try:
            page = await context.new_page()
            await page.goto(f"{hub.http}/portal/login")  # same origin as the hub, and an allowed dev origin
            for kind, code in samples:
                if kind != "js":
                    continue
                runnable = code.replace("'pk_live_...'", f"'{key.key}'")  # the reader's own key, as the comment says
                data = await page.evaluate(f"async () => {{ {runnable}\nreturn [response.status, data]; }}")
                status, body = data
                assert status == 200, (code, body)
                assert body["session_id"] and (body.get("reply") or body.get("message")), body
        finally:
            await context.close()

        [python] = [code for kind, code in samples if kind == "python"]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", python, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, err.decode()
        printed = out.decode()
        assert "'role': 'agent'" in printed and "'text': 'Hello, I need help with my order'" in printed, printed
