"""Request rates are counted in Redis when nodes share one, and a Redis that does not answer never stops the chat."""

from __future__ import annotations

import asyncio
import socket
import time
from urllib.parse import urlsplit

import pytest
from limits import parse

from hub.auth.throttle import SESSION, STORAGE_TIMEOUT_S, Throttle
from tests.proxy import proxy_to


async def clear_of_window_edge(period_s: float, margin_s: float = 15.0) -> None:
    """Shared counters turn over at multiples of their period since the epoch, and just after a turn they may
    let one more through: a test that counts exactly starts well inside a window."""
    left = period_s - time.time() % period_s
    if left < margin_s:
        await asyncio.sleep(left + 0.1)


async def test_request_rates_go_uncounted_for_a_while_when_redis_does_not_answer(
    redis_url: str, redis_prefix: str
) -> None:
    upstream = urlsplit(redis_url)
    assert upstream.hostname and upstream.port
    async with proxy_to(upstream.hostname, upstream.port) as proxy:
        throttle = Throttle(redis_url.replace(upstream.netloc, f"127.0.0.1:{proxy.port}", 1), redis_prefix)
        try:
            limit = parse("2/hour")
            await clear_of_window_edge(3600)
            counted = [await throttle.over_limit(limit, SESSION, "s") for _ in range(3)]
            assert counted[:2] == [None, None] and isinstance(counted[2], int) and counted[2] >= 1

            proxy.blackhole()  # connections stay open and hear nothing: a partition, the worst case
            started = time.monotonic()
            assert await throttle.over_limit(limit, SESSION, "s") is None, "over the limit, but not counted"
            assert time.monotonic() - started < STORAGE_TIMEOUT_S + 0.5, "bounded, not hanging"
            started = time.monotonic()
            assert await throttle.over_limit(limit, SESSION, "s") is None
            assert time.monotonic() - started < 0.05, "not asked again at once: every frame would wait"
        finally:
            await throttle.aclose()


async def test_two_nodes_counting_here_first_hold_one_limit_between_them(redis_url: str, redis_prefix: str) -> None:
    node_a, node_b = Throttle(redis_url, redis_prefix), Throttle(redis_url, redis_prefix)
    try:
        await clear_of_window_edge(3600)
        on_a = [await node_a.over_limit_here_first("8/hour", SESSION, "s") for _ in range(5)]
        on_b = [await node_b.over_limit_here_first("8/hour", SESSION, "s") for _ in range(5)]
        assert on_a == [None] * 5
        # B counted its first two itself and told Redis of them with its third: 5 + 3 is the limit.
        assert on_b[:3] == [None] * 3 and all(isinstance(wait, int) and wait >= 1 for wait in on_b[3:]), on_b
    finally:
        await node_a.aclose()
        await node_b.aclose()


async def test_a_key_that_is_not_busy_on_this_node_costs_no_round_trip(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens there: any round trip would fail and be logged
    throttle = Throttle(f"redis://127.0.0.1:{port}/0", "nowhere")
    try:
        waits = [await throttle.over_limit_here_first("30/minute", SESSION, "chatty") for _ in range(8)]
        assert waits == [None] * 8
        assert "uncounted" not in caplog.text
        # 8 of 30 in use, over a quarter: the next is told, and Redis not answering lets it through.
        assert await throttle.over_limit_here_first("30/minute", SESSION, "chatty") is None
        assert "uncounted" in caplog.text
        # On this node alone the limit is exact: a burst of 30, then one every 2 s.
        waits = [await throttle.over_limit_here_first("30/minute", SESSION, "chatty") for _ in range(22)]
        assert waits[:21] == [None] * 21 and waits[21] == 2
    finally:
        await throttle.aclose()


async def test_a_node_forgets_the_keys_it_no_longer_counts() -> None:
    throttle = Throttle(None, "memory")
    try:
        for n in range(1024):  # a sweep runs when a new key comes once there are 1024
            assert await throttle.over_limit_here_first("1000/second", SESSION, f"s{n}") is None
        await asyncio.sleep(0.01)  # one event in 1000/s is in use for a millisecond
        assert await throttle.over_limit_here_first("2/hour", SESSION, "kept") is None
        assert await throttle.over_limit_here_first("2/hour", SESSION, "kept") is None
        assert len(throttle._here) == 1, "the idle keys were swept"
        assert await throttle.over_limit_here_first("2/hour", SESSION, "kept") is not None, "and not the live one"
    finally:
        await throttle.aclose()
