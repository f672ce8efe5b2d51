"""Supervision for background tasks: log every crash and restart, never die silently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    *,
    min_backoff_s: float = 0.1,
    max_backoff_s: float = 5.0,
) -> None:
    """Run ``run`` forever: a crash is logged with its traceback and the task restarts with backoff.

    Cancellation is the only way out, so a lifespan that cancels its tasks stops them cleanly.
    """
    backoff = min_backoff_s
    while True:
        started = asyncio.get_running_loop().time()
        try:
            await run()
            logger.error("background task %s returned; restarting", name)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("background task %s crashed; restarting in %.1fs", name, backoff)
        if asyncio.get_running_loop().time() - started > 30:
            backoff = min_backoff_s
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff_s)


async def woken(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait for ``event`` at most ``timeout_s``; whether it was set. ``asyncio.timeout``, not ``wait_for``: on
    Python 3.11 ``wait_for`` swallows a cancellation that lands as the event is set, and a background loop so
    un-cancelled never lets its node close."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True
