"""A node opens its parts in order and closes them in reverse; a failure half-way leaks nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import pytest

from hub.node import Node
from hub.settings import Settings


async def settle(tasks_before: set[asyncio.Task[object]], threads_before: int) -> tuple[set[str], int]:
    """What is left running besides what ran before, once closing had a moment to finish."""
    for _ in range(50):
        left = {task.get_name() for task in asyncio.all_tasks() - tasks_before if task is not asyncio.current_task()}
        if not left and threading.active_count() <= threads_before:
            break
        await asyncio.sleep(0.02)
    return left, threading.active_count() - threads_before


async def test_a_node_that_fails_half_way_through_opening_closes_what_it_had_opened(
    settings: Settings, redis_url: str, redis_prefix: str
) -> None:
    # The password hasher is one of the last parts built: by then the database engine (a thread per
    # SQLite connection), the Redis broker's publisher and subscriber, the writer and the pricebook run.
    broken = dataclasses.replace(
        settings, redis_url=redis_url, redis_prefix=redis_prefix, password_hashing="no-such-profile"
    )
    tasks_before, threads_before = asyncio.all_tasks(), threading.active_count()
    with pytest.raises(KeyError):
        await Node.open(broken)
    left, threads = await settle(tasks_before, threads_before)
    assert left == set(), "no task of the half-opened node runs on"
    assert threads <= 0, "the database engine was disposed"


async def test_a_node_closes_everything_it_opened(settings: Settings, redis_url: str, redis_prefix: str) -> None:
    tasks_before, threads_before = asyncio.all_tasks(), threading.active_count()
    node = await Node.open(dataclasses.replace(settings, redis_url=redis_url, redis_prefix=redis_prefix))
    running = {task.get_name() for task in asyncio.all_tasks() - tasks_before}
    assert {"visitor-presence", "takeover-claims", "webhook-dispatcher", "credit-meter"} <= running
    assert (await node.health())["ok"] is True
    await node.close()
    left, threads = await settle(tasks_before, threads_before)
    assert left == set() and threads <= 0
