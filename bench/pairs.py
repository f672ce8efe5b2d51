"""Sessions seen from two nodes: the visitor's socket on node A and a second socket on node B.

Both the token and the durable scenario need many such pairs, opened with bounded concurrency so
the connect burst does not distort the hub before the measurement starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from bench.wsclient import FrameHandler, WsClient, connect


@dataclass
class Pair:
    index: int
    session_id: str
    visitor: WsClient
    watcher: WsClient


async def open_pairs(
    count: int,
    url_a: str,
    url_b: str,
    tenant: str,
    handler: FrameHandler,
    make_tag: Callable[[int, str], Any],
    *,
    concurrency: int = 50,
) -> list[Pair]:
    """Open ``count`` sessions: visitor on A, then a socket on B that joins the same session at seq 0.

    ``make_tag(index, "A"|"B")`` gives each socket the object its frames are accounted to.
    """
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> Pair:
        async with gate:
            visitor, ready = await connect(f"{url_a}/ws/visitor/{tenant}", handler, tag=make_tag(index, "A"))
            query = urlencode({"session_id": ready["session_id"], "resume_token": ready["resume_token"], "last_seq": 0})
            watcher, _ = await connect(f"{url_b}/ws/visitor/{tenant}?{query}", handler, tag=make_tag(index, "B"))
            return Pair(index, ready["session_id"], visitor, watcher)

    return list(await asyncio.gather(*(one(index) for index in range(count))))


async def close_pairs(pairs: list[Pair]) -> None:
    await asyncio.gather(
        *(client.close() for pair in pairs for client in (pair.visitor, pair.watcher)), return_exceptions=True
    )
