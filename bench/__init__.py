"""Benchmarks for the hub: token streaming latency, durable message throughput, idle socket memory.

Run with ``python -m bench`` (``--help`` for options). Never part of the test suite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a load-generating process on uvloop, as the hub runs: it has one core for thousands of sockets."""
    try:
        import uvloop
    except ImportError:  # uvloop has no Windows build
        return asyncio.run(main)
    return uvloop.run(main)
