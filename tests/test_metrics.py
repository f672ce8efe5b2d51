"""Operators see what a node does: ``/metrics`` in Prometheus' format, behind ``HUB_METRICS_TOKEN``, and each
metric moves when its event happens (real PostgreSQL and Redis where the event needs them)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hub.backplane import MemoryBackplane
from hub.broker.memory import MemoryBroker
from hub.broker.redis import RedisBroker
from hub.chat.fanout import Fanout
from hub.chat.publisher import Publisher
from hub.chat.visits import Visits
from hub.keys import Keys
from hub.metrics import Metrics
from hub.office_hours import utc_now
from hub.settings import Settings
from hub.store.database import open_engine
from hub.store.visits import Active, Sighting
from tests.agents import agent_account, agent_socket, login
from tests.conftest import RunningHub, serve_hub, visitor
from tests.proxy import proxy_to
from tests.services import free_port
from tests.test_slow_clients import stalled_visitor
from tests.webhook_receiver import receiver

TOKEN = "metrics-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def with_token(settings: Settings, **changes: object) -> Settings:
    return dataclasses.replace(settings, metrics_token=TOKEN, **changes)  # type: ignore[arg-type]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


class Scrape:
    def __init__(self, text: str) -> None:
        self.text = text
        self.values = samples(text)

    def __call__(self, name: str, **labels: str) -> float:
        return self.values.get((name, frozenset(labels.items())), 0.0)


async def scrape(hub: RunningHub) -> Scrape:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        response = await client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.text
    return Scrape(response.text)


async def until(hub: RunningHub, check: Callable[[Scrape], bool], timeout: float = 10.0) -> Scrape:
    """Scrape until ``check`` holds (some metrics move a moment after the frame that caused them)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        got = await scrape(hub)
        if check(got) or loop.time() > deadline:
            return got
        await asyncio.sleep(0.05)


async def test_metrics_are_served_only_to_the_holder_of_the_token(settings: Settings) -> None:
    async with serve_hub(settings) as hub, httpx.AsyncClient(base_url=hub.http) as client:
        hidden = await client.get("/metrics", headers=BEARER)
        assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"
    async with serve_hub(with_token(settings)) as hub, httpx.AsyncClient(base_url=hub.http) as client:
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
            assert refused.headers["www-authenticate"] == "Bearer"
        served = await client.get("/metrics", headers=BEARER)
        assert served.status_code == 200 and served.headers["content-type"].startswith("text/plain; version=0.0.4")
        # The soak bench reads exactly this line; the process collector gives memory and descriptors.
        tasks = re.search(r"^hub_asyncio_tasks (\d+(?:\.\d+)?)$", served.text, re.MULTILINE)
        assert tasks is not None and float(tasks.group(1)) >= 1
        got = Scrape(served.text)
        assert got("process_resident_memory_bytes") > 0 and got("process_open_fds") > 0
        for name in ("hub_sockets_open", "hub_frames_received_total", "hub_handoffs_waiting"):
            assert f"\n{name}" in served.text or served.text.startswith(name) or f"{name}{{" in served.text


async def test_two_nodes_in_one_process_each_report_only_their_own(settings: Settings) -> None:
    backplane = MemoryBackplane()
    async with (
        serve_hub(with_token(settings), backplane=backplane) as hub_a,
        serve_hub(with_token(settings), backplane=backplane) as hub_b,
    ):
        tenant = await hub_a.tenant()
        async with visitor(hub_a.ws, tenant.id) as client:
            await client.say("hello")
            await client.ai_reply()
            a, b = await scrape(hub_a), await scrape(hub_b)
        assert a("hub_sockets_open", kind="visitor") == 1 and b("hub_sockets_open", kind="visitor") == 0
        assert a("hub_messages_stored_total") == 2 and b("hub_messages_stored_total") == 0
        assert (
            a("hub_frames_received_total", kind="visitor") == 1 and b("hub_frames_received_total", kind="visitor") == 0
        )


async def test_a_conversation_moves_socket_frame_store_ai_broker_and_handoff_metrics(
    settings: Settings, redis_url: str, redis_prefix: str
) -> None:
    # A database of its own: hub_handoffs_waiting counts every tenant's waits, and the run's shared PostgreSQL
    # holds other tests' waiting visitors.
    on_redis = with_token(settings, redis_url=redis_url, redis_prefix=redis_prefix, ai_token_delay_ms=5)
    async with serve_hub(on_redis) as hub:
        tenant = await hub.tenant()
        before = await scrape(hub)
        assert before("hub_sockets_open", kind="visitor") == 0 and before("hub_ai_first_token_seconds_count") == 0
        token = str((await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Ada")))["token"])
        async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=token):
            await client.say("What are your opening hours?")
            frames = await client.ai_reply()
            tokens = [frame for frame in frames if frame["type"] == "token"]
            during = await until(hub, lambda s: s("hub_ai_replies_total", outcome="completed") == 1)
            assert during("hub_sockets_open", kind="visitor") == 1 and during("hub_sockets_open", kind="agent") == 1
            assert during("hub_frames_received_total", kind="visitor") == 1
            # ready, the visitor's message, typing, every token, the AI's message (at least)
            assert during("hub_frames_sent_total", kind="visitor") >= len(frames) + 1
            assert during("hub_frames_sent_total", kind="agent") >= 2  # ready and the session list
            assert during("hub_messages_stored_total") == 2
            assert during("hub_writer_batch_messages_count") >= 1 and during("hub_writer_batch_messages_sum") == 2
            assert during("hub_writer_commit_seconds_count") == during("hub_writer_batch_messages_count")
            assert during("hub_ai_first_token_seconds_count") == 1
            assert during("hub_ai_tokens_total") == len(tokens) > 1
            assert during("hub_ai_tokens_per_second_count") == 1 and during("hub_ai_tokens_per_second_sum") > 0
            assert during("hub_broker_publish_lag_seconds_count") >= 1, "Redis took this node's publishes"
            assert during("hub_handoffs_waiting") == 0
            await client.send({"type": "handoff", "reason": "I want a person"})
            await client.until(lambda f: f["type"] == "message" and f["role"] == "system")
            assert (await scrape(hub))("hub_handoffs_waiting") == 1
        after = await until(hub, lambda s: s("hub_sockets_open", kind="agent") == 0)
        assert after("hub_sockets_open", kind="visitor") == 0 and after("hub_sockets_open", kind="agent") == 0


async def test_rate_limit_refusals_are_counted_on_sockets_and_on_http(settings: Settings) -> None:
    limited = with_token(settings, ai_provider="none", rate_limit_socket="1/minute", rate_limit_session="1/hour")
    async with serve_hub(limited) as hub:
        tenant = await hub.tenant()
        async with visitor(hub.ws, tenant.id) as client:
            await client.say("one")
            await client.say("two")  # over the socket's budget
            answers: list[dict[str, Any]] = []  # one per message: stored, or refused
            while len(answers) < 2:
                frame = await client.recv()
                if frame["type"] == "error" or (frame["type"] == "message" and frame["role"] == "visitor"):
                    answers.append(frame)
            # "one" may meet a limit as well: tests in one process share 127.0.0.1's per-address count.
            refused = [f for f in answers if f["type"] == "error" and f["code"] == "rate_limited"]
            assert refused and refused[-1]["message"].startswith("too many messages on this connection")
        got = await scrape(hub)
        assert got("hub_rate_limit_refusals_total", path="socket") == len(refused)
        assert got("hub_rate_limit_refusals_total", path="http") == 0
        async with httpx.AsyncClient(base_url=hub.http) as http:
            body = {"session_id": "over-http", "business_id": tenant.business_id, "message": "hello"}
            assert (await http.post("/api/chat", json=body)).status_code == 200
            assert (await http.post("/api/chat", json=body)).status_code == 429  # one message an hour per session
        assert (await scrape(hub))("hub_rate_limit_refusals_total", path="http") == 1


async def test_a_visitor_closed_for_reading_too_slowly_is_counted(settings: Settings) -> None:
    quick = with_token(
        settings,
        send_queue_frames=16,
        ai_provider="none",
        ws_ping_interval_s=0,
        max_message_chars=60_000,
        rate_limit_socket="1000/minute",
        rate_limit_socket_frames="1000/minute",
        rate_limit_session="1000/minute",
        rate_limit_address="1000/minute",
    )
    async with serve_hub(quick) as hub:
        tenant = await hub.tenant()
        async with visitor(hub.ws, tenant.id) as writer:
            query = f"session_id={writer.ready['session_id']}&resume_token={writer.ready['resume_token']}&last_seq=0"
            _reader, stream = await stalled_visitor(hub.port, f"/ws/visitor/{tenant.id}?{query}")
            assert (await scrape(hub))("hub_slow_client_closes_total", kind="visitor") == 0
            payload = "z" * 50_000
            for n in range(200):
                await writer.say(f"{n} {payload}", client_id=f"bulk-{n}")
                if n % 20 == 19:
                    await writer.until(lambda f, last=n + 1: f.get("seq") == last)
            got = await until(hub, lambda s: s("hub_slow_client_closes_total", kind="visitor") == 1)
            assert got("hub_slow_client_closes_total", kind="visitor") == 1
            assert got("hub_slow_client_closes_total", kind="agent") == 0
            stream.close()


async def test_provider_errors_are_counted(settings: Settings) -> None:
    nowhere = with_token(
        settings, ai_provider="openai", openai_base_url=f"http://127.0.0.1:{free_port()}/v1", openai_api_key="k"
    )
    async with serve_hub(nowhere) as hub:
        tenant = await hub.tenant()
        assert (await scrape(hub))("hub_ai_provider_errors_total", provider="openai") == 0
        async with visitor(hub.ws, tenant.id) as client:
            await client.say("hello?")
            await client.until(lambda f: f["type"] == "error" and f["code"] == "ai_unavailable")
        got = await until(hub, lambda s: s("hub_ai_provider_errors_total", provider="openai") == 1)
        assert got("hub_ai_provider_errors_total", provider="openai") == 1
        assert got("hub_ai_replies_total", outcome="provider_error") == 1
        assert got("hub_ai_first_token_seconds_count") == 0


async def test_webhook_deliveries_are_counted_by_outcome(settings: Settings) -> None:
    async with serve_hub(with_token(settings, webhooks_allow_private=True)) as hub:
        hub.node.webhooks.backoff_s = (0.2,)  # one retry, then the delivery is given up
        tenant = await hub.tenant()
        owner = str((await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Olga", "owner")))["token"])
        async with receiver() as hooks:
            async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {owner}"}) as http:
                created = await http.post("/api/webhooks", json={"url": hooks.url, "events": ["session.created"]})
                assert created.status_code == 201, created.text
                hooks.secret = created.json()["secret"]
            for status in (200, 500):  # delivered; then failed once and given up
                hooks.status = status
                async with visitor(hub.ws, tenant.id) as client:
                    await client.say("hello")
                    await client.ai_reply()
                if status == 200:
                    await hooks.wait_for(lambda got: len(got) == 1)
            got = await until(hub, lambda s: s("hub_webhook_deliveries_total", outcome="gave_up") == 1)
        assert got("hub_webhook_deliveries_total", outcome="delivered") == 1
        assert got("hub_webhook_deliveries_total", outcome="failed") == 1
        assert got("hub_webhook_deliveries_total", outcome="gave_up") == 1


@pytest.mark.timeout(60)
async def test_a_partition_shows_as_publish_lag_dropped_publishes_and_resyncs(
    redis_url: str, redis_prefix: str
) -> None:
    """Node A loses Redis for longer than it keeps publishes: it counts them dropped and resyncs when it is back;
    node B, told to catch up, counts that."""
    host, port = redis_url.split("//", 1)[1].split("/", 1)[0].split(":")
    metrics_a, metrics_b = Metrics(), Metrics()

    class Listener:
        def __init__(self) -> None:
            self.resyncs = 0

        def deliver(self, seq: int, frame: str) -> None:
            pass

        def resync(self) -> None:
            self.resyncs += 1

    async with proxy_to(host, int(port)) as partition:
        broker_a = RedisBroker(partition.url("redis://", "/0"), prefix=redis_prefix, node_id="a", metrics=metrics_a)
        broker_b = RedisBroker(redis_url, prefix=redis_prefix, node_id="b", metrics=metrics_b)
        broker_a.stale_after_s, broker_a.pipeline_timeout_s = 1.0, 1.0
        fanout_a, fanout_b = Fanout(broker_a, "a", metrics_a), Fanout(broker_b, "b", metrics_b)
        await fanout_a.connect()
        await fanout_b.connect()
        try:
            on_b = Listener()
            await fanout_b.join("room", on_b)
            fanout_a.publish("room", 1, b"{}")
            assert (await settle(metrics_a, lambda a: a("hub_broker_publish_lag_seconds_count") >= 1)) is not None
            partition.blackhole()
            fanout_a.publish("room", 2, b"{}")
            a = await settle(metrics_a, lambda a: a("hub_broker_dropped_publishes_total", reason="stale") >= 1)
            assert a("hub_broker_dropped_publishes_total", reason="queue_full") == 0
            partition.heal()
            a = await settle(metrics_a, lambda a: a("hub_resyncs_total", cause="reconnect") >= 1)
            assert a("hub_resyncs_total", cause="catch_up") == 0
            b = await settle(metrics_b, lambda b: b("hub_resyncs_total", cause="catch_up") >= 1)
            assert on_b.resyncs >= 1 and b("hub_resyncs_total", cause="reconnect") == 0
        finally:
            await broker_a.disconnect()
            await broker_b.disconnect()


async def settle(metrics: Metrics, check: Callable[[Scrape], bool], timeout: float = 15.0) -> Scrape:
    """Read a registry until ``check`` holds; fails the test if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        got = Scrape(generate_latest(metrics.registry).decode())
        if check(got):
            return got
        assert loop.time() < deadline, got.text
        await asyncio.sleep(0.05)


async def test_the_visitor_context_writer_counts_its_queue_batches_rows_and_failures(
    settings: Settings, tmp_path: Path
) -> None:
    async with serve_hub(with_token(settings)) as hub:
        tenant = await hub.tenant()
        async with visitor(hub.ws, tenant.id) as guest:
            await guest.say("hello")
            await guest.send({"type": "page", "url": "https://shop.example.com/bikes", "title": "Bikes"})
            got = await until(hub, lambda s: s("hub_visitor_context_rows_total") >= 1)
        assert got("hub_visitor_context_batches_total", outcome="written") >= 1
        assert got("hub_visitor_context_batches_total", outcome="failed") == 0
        assert got("hub_visitor_context_waiting") == 0, "written: nothing waits"

    # A store that cannot take the batch (its tables are missing): the batch fails, its visitor waits, counted.
    engine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    metrics = Metrics()
    publisher = Publisher(Fanout(MemoryBroker(), "node", metrics), Keys("metrics"))
    visits = Visits(engine, publisher, utc_now, timeout_s=5, metrics=metrics)
    try:
        visits.saw("t", "s", Sighting([Active(utc_now())]))
        assert not await visits.flush()
        failed = Scrape(generate_latest(metrics.registry).decode())
        assert failed("hub_visitor_context_batches_total", outcome="failed") == 1
        assert failed("hub_visitor_context_waiting") == 1 and failed("hub_visitor_context_rows_total") == 0
    finally:
        await engine.dispose()


async def test_every_metric_deploy_md_lists_is_served_and_every_one_served_is_listed(settings: Settings) -> None:
    """DEPLOY.md's table is the metrics' documentation: it names exactly what a node serves, and no metric has
    a per-tenant label."""
    table = (Path(__file__).resolve().parent.parent / "docs" / "DEPLOY.md").read_text().split("## Metrics", 1)[1]
    table = table.split("\n## ", 1)[0]
    documented = set(re.findall(r"`(hub_[a-z_]+)", table))
    async with serve_hub(with_token(settings)) as hub:
        got = await scrape(hub)
    families = {family.name: family for family in text_string_to_metric_families(got.text)}
    served = {name for name in families if name.startswith("hub_")}
    as_documented = {name.removesuffix("_total") for name in documented}
    assert served == as_documented, (served - as_documented, as_documented - served)
    labels = {label for family in families.values() for sample in family.samples for label in sample.labels}
    assert labels <= {"kind", "outcome", "provider", "reason", "cause", "path", "le"}, labels


async def test_a_reply_cut_short_by_a_takeover_counts_its_tokens_and_its_outcome(settings: Settings) -> None:
    async with serve_hub(with_token(settings, ai_token_delay_ms=100)) as hub:
        tenant = await hub.tenant()
        token = str((await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Anna")))["token"])
        async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=token) as agent:
            await client.say("Tell me everything about your plans and prices, please.")
            streamed = await client.until(lambda f: f["type"] == "token" and f["index"] >= 2)
            answer = await agent.command({"type": "takeover", "session_id": client.ready["session_id"]})
            assert answer["type"] == "ok", answer
            cut = (await client.until(lambda f: f["type"] == "message" and f["role"] == "ai"))[-1]
            assert cut["truncated"] is True
        got = await until(hub, lambda s: s("hub_ai_replies_total", outcome="cut_short") == 1)
        assert got("hub_ai_replies_total", outcome="cut_short") == 1
        assert got("hub_ai_replies_total", outcome="completed") == 0
        assert got("hub_ai_tokens_total") >= len([f for f in streamed if f["type"] == "token"])
        assert got("hub_ai_tokens_per_second_count") == 0, "only replies streamed to their end are measured"
