"""The load generator's own garbage-collector pauses, so a latency spike can be told from one of ours.

A pause here delays when the client reads its sockets, so it adds to every latency it measures.
"""

from __future__ import annotations

import gc
import time
from typing import Any

_pauses: list[tuple[float, float]] = []  # (wall-clock start, seconds)
_started: list[float] = []


def _callback(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started.append(time.perf_counter())
        return
    if _started:
        began = _started.pop()
        elapsed = time.perf_counter() - began
        if elapsed >= 0.001:
            _pauses.append((time.time() - elapsed, elapsed))


def install() -> None:
    if _callback not in gc.callbacks:
        gc.callbacks.append(_callback)


def summary(since: float, until: float) -> str:
    """Pauses of at least 1 ms between two wall-clock times."""
    inside = [(at, seconds) for at, seconds in _pauses if since <= at <= until]
    if not inside:
        return "load generator GC pauses >= 1 ms: none"
    at, longest = max(inside, key=lambda pause: pause[1])
    return (
        f"load generator GC pauses >= 1 ms: {len(inside)}, {sum(s for _, s in inside) * 1000:.0f} ms in all, "
        f"longest {longest * 1000:.1f} ms (second {int(at - since)})"
    )
