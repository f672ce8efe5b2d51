"""A node that goes away mid-reply: on SIGTERM the reply in flight finishes, on SIGKILL another node
ends its tokens and answers the visitor again. Two real hub processes on one Redis and one PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
import signal
from collections.abc import Iterator

import pytest
import redis
from websockets.exceptions import ConnectionClosed

from hub.store.database import open_engine
from hub.store.models import StoredMessage, Tenant
from hub.store.transcript import messages_after
from tests.conftest import SECRET, Visitor, visitor
from tests.services import HubProcess

LEASE_S = 2.0


@pytest.fixture
def two_nodes(redis_url: str, postgres_url: str) -> Iterator[tuple[HubProcess, HubProcess]]:
    """Node A streams slowly and may finish a reply within a 10 s grace on SIGTERM; node B is where visitors go."""
    prefix = f"bobtest-{secrets.token_hex(4)}"
    env = {
        "HUB_DATABASE_URL": postgres_url,
        "HUB_REDIS_URL": redis_url,
        "HUB_REDIS_PREFIX": prefix,
        "HUB_SECRET_KEY": SECRET,
        "HUB_AI_TOKEN_DELAY_MS": "120",
        "HUB_REPLY_LEASE_S": str(LEASE_S),
        "HUB_LOG_LEVEL": "warning",
    }
    node_a, node_b = HubProcess({**env, "HUB_SHUTDOWN_GRACE_S": "10"}), HubProcess(env)
    node_a.start()
    node_b.start()
    try:
        yield node_a, node_b
    finally:
        node_a.kill()
        node_b.stop()
        node_a.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def resume_query(client: Visitor, last_seq: int) -> str:
    return f"session_id={client.ready['session_id']}&resume_token={client.ready['resume_token']}&last_seq={last_seq}"


async def transcript(postgres_url: str, tenant: Tenant, session_id: str) -> list[StoredMessage]:
    engine = open_engine(postgres_url)
    try:
        return await messages_after(engine, tenant.id, session_id, 0)
    finally:
        await engine.dispose()


async def test_a_node_killed_mid_reply_has_its_tokens_ended_and_the_visitor_answered_again_by_another(
    two_nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant, postgres_url: str
) -> None:
    node_a, node_b = two_nodes
    async with visitor(node_a.ws, pg_tenant.id) as on_a:
        await on_a.say("who are you?")
        frames = await on_a.until(lambda f: f["type"] == "token" and f["index"] == 3, timeout=10)
        dead_reply = frames[-1]["message_id"]
        node_a.kill()  # SIGKILL: no cleanup of any kind
        query = resume_query(on_a, last_seq=1)
    async with visitor(node_b.ws, pg_tenant.id, query=query) as on_b:
        frames = await on_b.until(lambda f: f["type"] == "message" and f["role"] == "ai", timeout=LEASE_S * 8)
    kinds = [(f["type"], f.get("message_id") or f.get("id")) for f in frames if f["type"] != "typing"]
    aborted = kinds.index(("reply_aborted", dead_reply))
    assert all(kind != "token" or message_id != dead_reply for kind, message_id in kinds[aborted:]), (
        "no token of the dead reply after it was ended"
    )
    answer = frames[-1]
    assert answer["id"] != dead_reply and not answer.get("truncated")
    new_tokens = [f["text"] for f in frames if f["type"] == "token" and f["message_id"] == answer["id"]]
    assert "".join(new_tokens) == answer["text"], "the new reply streamed whole on node B"
    stored = await transcript(postgres_url, pg_tenant, on_a.ready["session_id"])
    assert [(m.role, m.id) for m in stored] == [("visitor", stored[0].id), ("ai", answer["id"])]


async def test_a_node_stopped_mid_reply_lets_it_finish_while_the_visitor_moves_to_another_node(
    two_nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant, postgres_url: str
) -> None:
    node_a, node_b = two_nodes
    async with visitor(node_a.ws, pg_tenant.id) as on_a:
        await on_a.say("who are you?")
        frames = await on_a.until(lambda f: f["type"] == "token" and f["index"] == 2, timeout=10)
        reply_id = frames[-1]["message_id"]
        assert node_a.process is not None
        node_a.process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await on_a.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012, "sockets close with 1012 at once"
        query = resume_query(on_a, last_seq=1)
    async with visitor(node_b.ws, pg_tenant.id, query=query) as on_b:
        frames = await on_b.until(lambda f: f["type"] == "message" and f["role"] == "ai", timeout=15)
    answer = frames[-1]
    assert answer["id"] == reply_id and not answer.get("truncated"), "the reply in flight finished on node A"
    tokens = [f for f in frames if f["type"] == "token"]
    assert [t["index"] for t in tokens] == list(range(len(tokens))), "replayed, then the rest live, no gap"
    assert "".join(t["text"] for t in tokens) == answer["text"]
    for _ in range(100):
        if node_a.process.poll() is not None:
            break
        await asyncio.sleep(0.1)
    assert node_a.process.poll() is not None, "node A exited once its reply was done"
    stored = await transcript(postgres_url, pg_tenant, on_a.ready["session_id"])
    assert [(m.role, m.id) for m in stored] == [("visitor", stored[0].id), ("ai", reply_id)]
