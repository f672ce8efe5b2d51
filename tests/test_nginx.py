"""Debian's nginx in front of three hub nodes, configured by the block docs/DEPLOY.md prints (only the node
addresses and the listen port replaced): a node is killed mid conversation and its visitors resume through
nginx on the others with nothing lost or duplicated."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from hub.store.database import open_engine
from hub.store.models import Tenant
from hub.store.transcript import messages_after
from tests.conftest import SECRET
from tests.services import HubProcess, Nginx, free_port, start_nodes
from tests.talker import Talker

DEPLOY_MD = Path(__file__).resolve().parent.parent / "docs" / "DEPLOY.md"
DOCUMENTED_NODES = ("10.0.0.11:8000", "10.0.0.12:8000", "10.0.0.13:8000")


def documented_site(nodes: tuple[HubProcess, ...], port: int) -> str:
    """DEPLOY.md's nginx block, with our nodes' addresses and our port in place of the documented ones."""
    blocks = re.findall(r"```nginx\n(# bob-hub\.conf.*?)```", DEPLOY_MD.read_text(), flags=re.DOTALL)
    assert len(blocks) == 1, "docs/DEPLOY.md prints one nginx block starting with '# bob-hub.conf'"
    site: str = blocks[0]
    for documented, node in zip(DOCUMENTED_NODES, nodes, strict=True):
        assert site.count(f"server {documented} ") == 1
        site = site.replace(f"server {documented} ", f"server 127.0.0.1:{node.port} ")
    assert site.count("listen 80;") == 1
    return site.replace("listen 80;", f"listen 127.0.0.1:{port};")


@pytest.fixture
def three_nodes(redis_url: str, postgres_url: str) -> Iterator[tuple[HubProcess, ...]]:
    prefix = f"bobtest-{secrets.token_hex(4)}"
    env = {
        "HUB_DATABASE_URL": postgres_url,
        "HUB_REDIS_URL": redis_url,
        "HUB_REDIS_PREFIX": prefix,
        "HUB_SECRET_KEY": SECRET,
        "HUB_AI_PROVIDER": "none",
        "HUB_LOG_LEVEL": "warning",
    }
    nodes = (HubProcess(env), HubProcess(env), HubProcess(env))
    try:
        start_nodes(*nodes)
        yield nodes
    finally:
        for node in nodes:
            node.stop()
        with redis.Redis.from_url(redis_url) as client:
            keys = list(client.scan_iter(match=f"{prefix}:*"))
            if keys:
                client.delete(*keys)


@pytest.fixture
def nginx(three_nodes: tuple[HubProcess, ...]) -> Iterator[Nginx]:
    port = free_port()
    server = Nginx(documented_site(three_nodes, port), port)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


async def sockets_on(node: HubProcess) -> int:
    async with httpx.AsyncClient() as client:
        sockets: int = (await client.get(f"{node.http}/api/health")).json()["sockets"]
    return sockets


async def test_visitors_on_a_killed_node_resume_through_nginx_on_the_others_with_nothing_lost(
    three_nodes: tuple[HubProcess, ...], nginx: Nginx, pg_tenant: Tenant, postgres_url: str
) -> None:
    url = f"ws://127.0.0.1:{nginx.port}/ws/visitor/{pg_tenant.id}"
    talkers = [await Talker(url).connect() for _ in range(6)]
    spread = [await sockets_on(node) for node in three_nodes]
    assert spread == [2, 2, 2], "nginx spreads the sockets over every node: no stickiness"

    async def talk(talker: Talker) -> None:
        for n in range(16):
            await talker.say(f"message {n}")
            await asyncio.sleep(0.03)

    conversations = [asyncio.create_task(talk(talker)) for talker in talkers]
    async with asyncio.timeout(10):
        while min(len(talker.acked) for talker in talkers) < 5:
            await asyncio.sleep(0.01)
    victim = three_nodes[0]
    victim.kill()
    await asyncio.gather(*conversations)

    assert sorted(talker.reconnects for talker in talkers) == [0, 0, 0, 0, 1, 1], "only the killed node's visitors"
    assert sum(talker.failed_reconnects for talker in talkers) == 0, "no reconnect failed"
    assert [await sockets_on(node) for node in three_nodes[1:]] == [3, 3]
    # Round robin sent the first reconnect to the dead node: nginx moved it to the next one by itself.
    assert "Connection refused) while connecting to upstream" in nginx.error_log()
    engine = open_engine(postgres_url)
    try:
        for talker in talkers:
            talker.assert_whole(16)
            stored = await messages_after(engine, pg_tenant.id, talker.ready["session_id"], 0)
            assert [(m.seq, m.client_id) for m in stored] == [(m["seq"], m["client_id"]) for m in talker.messages]
            await talker.close()
    finally:
        await engine.dispose()
