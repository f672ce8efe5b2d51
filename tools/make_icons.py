"""Renders the hub's icon (static/icons/icon.svg) into the PNGs the web app manifest and the pages name.

    .venv/bin/python tools/make_icons.py

Debian's Chromium draws the SVG (the browser the tests use, never a download); the maskable icon is the same
drawing without rounded corners (the phone cuts its own shape; the bubble sits inside the middle 80%).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from playwright.async_api import async_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS

ICONS = Path(__file__).resolve().parent.parent / "static" / "icons"


async def render() -> None:
    svg = (ICONS / "icon.svg").read_text()
    maskable = svg.replace(' rx="96"', "")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name, drawing, size in (
                ("icon-192.png", svg, 192),
                ("icon-512.png", svg, 512),
                ("icon-maskable-512.png", maskable, 512),
            ):
                page = await browser.new_page(viewport={"width": size, "height": size})
                html = (
                    "<!doctype html><style>html,body{margin:0;background:transparent}svg{display:block;"
                    f"width:{size}px;height:{size}px}}</style>{drawing}"
                )
                await page.set_content(html)
                await page.screenshot(path=str(ICONS / name), omit_background=True)
                await page.close()
        finally:
            await browser.close()


if __name__ == "__main__":
    asyncio.run(render())
