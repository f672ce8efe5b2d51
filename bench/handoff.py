"""Scenario "handoff": from a visitor asking for a person to the alert in Mission Control on the other node.

Node A carries the visitors: ``streaming`` of them receive long AI replies for the whole measurement
(the load the alert has to get through), and others ask for a person at a steady pace with the
widget's ``handoff`` frame. An agent's Mission Control socket on node B waits for each session's
``session`` patch that says it is waiting: the time from the visitor's frame leaving the client to
that patch arriving covers the stored waiting state (a PostgreSQL commit), the publish, Redis, and
B's dashboard fan-out. Both ends are in this process, so one clock measures it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx
import orjson
import psutil

from bench.report import CpuMeter, Latency, ScenarioResult
from bench.services import BenchEnv, openai_env
from bench.wsclient import WsClient, connect

ALERT_P99_MS = 50.0


@dataclass
class HandoffConfig:
    streaming: int = 200  # conversations streaming an AI reply all through the measurement
    requests: int = 300  # visitors who ask for a person, one after another at ``rate``
    rate: float = 10.0  # requests per second
    token_rate: float = 20.0


@dataclass
class AlertProbe:
    """Sent times by session, and the first waiting patch each session's alert brought to node B."""

    sent_ns: dict[str, int] = field(default_factory=dict)
    alert_ns: dict[str, int] = field(default_factory=dict)
    tokens: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0

    def on_agent_frame(self, client: WsClient, payload: bytes, now: int) -> None:
        if not payload.startswith(b'{"type":"session"'):
            return
        session = orjson.loads(payload)["session"]
        session_id = session["id"]
        if session.get("waiting") and session_id in self.sent_ns and session_id not in self.alert_ns:
            self.alert_ns[session_id] = now - self.sent_ns[session_id]
            if len(self.alert_ns) >= self.expected:
                self.done.set()

    def on_visitor_frame(self, client: WsClient, payload: bytes, now: int) -> None:
        if payload.startswith(b'{"type":"token"'):
            self.tokens += 1
        elif payload.startswith(b'{"type":"error"'):
            code = str(orjson.loads(payload).get("code"))
            self.errors[code] = self.errors.get(code, 0) + 1


async def run(env: BenchEnv, config: HandoffConfig) -> ScenarioResult:
    result = ScenarioResult("handoff")
    provider, port = await env.start_fake_openai(config.token_rate)
    ai = openai_env(port)
    node_a = await env.start_node("A", **ai)
    node_b = await env.start_node("B", **ai)
    tenant = await env.open_tenant("handoff", plan="enterprise", agents=1)
    async with httpx.AsyncClient(timeout=30) as http:
        login = {"email": tenant.agent_emails[0], "password": tenant.password}
        answer = await http.post(f"http://127.0.0.1:{node_b.port}/api/auth/login", json=login)
        answer.raise_for_status()
        token = answer.json()["token"]
    probe = AlertProbe(expected=config.requests)
    agent, _ = await connect(
        f"{node_b.ws}/ws/agent", probe.on_agent_frame, headers={"Authorization": f"Bearer {token}"}
    )
    gate = asyncio.Semaphore(50)

    async def visitor() -> WsClient:
        async with gate:
            client, _ = await connect(f"{node_a.ws}/ws/visitor/{tenant.id}", probe.on_visitor_frame)
            return client

    streamers = await asyncio.gather(*(visitor() for _ in range(config.streaming)))
    askers = await asyncio.gather(*(visitor() for _ in range(config.requests)))
    ready = {client: client.ready.result()["session_id"] for client in askers}

    # Replies long enough to stream through the whole measurement, with room to spare.
    seconds = config.requests / config.rate + 15
    reply_tokens = round(seconds * config.token_rate)
    for number, client in enumerate(streamers):
        text = f"stream please tokens={reply_tokens}"
        client.send_text(orjson.dumps({"type": "message", "text": text, "client_id": f"s{number}"}).decode())
    await asyncio.sleep(3.0)  # every reply is streaming before the first request
    meter = CpuMeter(
        {"node A": node_a.processes(), "node B": node_b.processes(), "fake AI": [psutil.Process(provider.pid)]},
        env.database,
    )
    meter.start()
    tokens_before = probe.tokens
    began = time.monotonic()
    loop = asyncio.get_running_loop()
    start = loop.time()
    for number, client in enumerate(askers):
        delay = start + number / config.rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        probe.sent_ns[ready[client]] = time.time_ns()
        client.send_text('{"type":"handoff","reason":"I would like to talk to a person"}')
    timed_out = False
    try:
        await asyncio.wait_for(probe.done.wait(), 30)
    except TimeoutError:
        timed_out = True
    elapsed = time.monotonic() - began
    streamed = probe.tokens - tokens_before
    cpu = meter.stop()
    await asyncio.gather(*(client.close() for client in [*streamers, *askers, agent]), return_exceptions=True)
    problems = env.stop(node_b) + env.stop(node_a) + env.stop(provider)

    latency = Latency.from_ns(probe.alert_ns.values())
    result.add(
        f"visitor asks on A -> Waiting alert on B ({config.streaming} streaming)",
        f"p99 <= {ALERT_P99_MS:g} ms",
        latency.text(),
        latency.p99_ms <= ALERT_P99_MS and len(probe.alert_ns) == config.requests,
    )
    result.add(
        "alerts that arrived",
        f"{config.requests}",
        f"{len(probe.alert_ns)} of {config.requests}" + (" (gave up after 30 s)" if timed_out else ""),
        len(probe.alert_ns) == config.requests,
    )
    result.add(
        "token frames streamed meanwhile",
        "-",
        f"{streamed} in {elapsed:.1f}s ({streamed / elapsed:.0f}/s to {config.streaming} visitors)",
    )
    result.notes.append(CpuMeter.text(cpu))
    if probe.errors:
        result.notes.append(f"error frames: {probe.errors}")
    result.notes.extend(problems)
    result.steal_percent = float(cpu["steal_percent"]) if cpu else 0.0
    result.details = {"config": vars(config), "alert": vars(latency), "cpu": cpu}
    return result
