"""Headless Chromium for the browser tests: Debian's binary driven by Playwright, never a download.

One Chromium serves every browser test of a test process (launching Playwright's driver and the
browser costs about a second); each test works in contexts of its own, closed when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from playwright.async_api import Browser, Route, async_playwright

CHROMIUM = "/usr/bin/chromium"
# The ``chromium`` fixture: ``async with chromium() as browser`` in a test.
Chromium = Callable[[], AbstractAsyncContextManager[Browser]]
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.asynccontextmanager
async def launch_chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def own_contexts(browser: Browser) -> AsyncIterator[Browser]:
    """The shared browser for one test: the contexts (and so pages) it opens are closed on the way out."""
    before = set(browser.contexts)
    try:
        yield browser
    finally:
        for context in browser.contexts:
            if context not in before:
                await context.close()


def arriving_late(seconds: float, arrived: asyncio.Event | None = None) -> Callable[[Route], Awaitable[None]]:
    """A handler for ``page.route``: what it matches arrives ``seconds`` late, as on a slow phone network (then
    ``arrived`` is set)."""

    async def late(route: Route) -> None:
        await asyncio.sleep(seconds)
        await route.continue_()
        if arrived is not None:
            arrived.set()

    return late
