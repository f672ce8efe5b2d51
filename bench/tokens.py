"""Scenario "tokens": streamed AI replies, seen by the visitor on node A and a second socket on node B.

Both nodes use the OpenAI provider pointed at ``bench.fake_openai``, whose tokens carry the time
they were written to the hub. Latency is therefore measured from the provider's send to the
socket's receive, hub parsing and Redis included, with no hook inside the hub. Order and loss are
checked on the hub's own ``index`` and on the counter the provider put in each token.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx
import orjson
import psutil

from bench import gcwatch
from bench.pairs import close_pairs, open_pairs
from bench.report import CpuMeter, Latency, ScenarioResult
from bench.services import BenchEnv, openai_env
from bench.wsclient import WsClient

SAME_NODE_P99_MS = 10.0
CROSS_NODE_P99_MS = 20.0


@dataclass
class TokenConfig:
    sessions: int = 200
    rate: float = 20.0
    reply_seconds: float = 30.0
    start_spread_s: float = 1.0


@dataclass
class TokenSocket:
    """What one socket saw of its session's reply."""

    node: str
    indexes: set[int] = field(default_factory=set)
    highest: int = -1
    out_of_order: int = 0
    mismatched: int = 0
    reply_tokens: int | None = None
    errors: list[str] = field(default_factory=list)
    done: bool = False


class TokenProbe:
    def __init__(self) -> None:
        self.latency_ns: dict[str, list[int]] = {"A": [], "B": []}
        # Per node, per second of the run (by send time): where in time the slow tokens were.
        self.by_second: dict[str, dict[int, list[int]]] = {"A": {}, "B": {}}
        self.sockets: list[TokenSocket] = []
        self.by_session: dict[int, dict[str, TokenSocket]] = {}
        self.finished = 0
        self.all_done = asyncio.Event()
        self.expected = 0

    def tag(self, index: int, node: str) -> TokenSocket:
        socket = TokenSocket(node)
        self.sockets.append(socket)
        self.by_session.setdefault(index, {})[node] = socket
        return socket

    def on_frame(self, client: WsClient, payload: bytes, now: int) -> None:
        socket: TokenSocket = client.tag
        if payload.startswith(b'{"type":"token"'):
            frame = orjson.loads(payload)
            counter, _, stamp = frame["text"].partition(":")
            sent = int(stamp)
            self.latency_ns[socket.node].append(now - sent)
            self.by_second[socket.node].setdefault(sent // 1_000_000_000, []).append(now - sent)
            index = frame["index"]
            if index < socket.highest or index in socket.indexes:
                socket.out_of_order += 1
            socket.highest = max(socket.highest, index)
            socket.indexes.add(index)
            if int(counter) != index:
                socket.mismatched += 1
            return
        frame = orjson.loads(payload)
        kind = frame.get("type")
        if kind == "message" and frame.get("role") == "ai":
            socket.reply_tokens = len(frame["text"].split())
            self._finish(socket)
        elif kind == "error":
            socket.errors.append(str(frame.get("code")))
        elif kind == "message" and frame.get("role") == "system":
            socket.errors.append("system: " + str(frame.get("text"))[:60])
            self._finish(socket)

    def _finish(self, socket: TokenSocket) -> None:
        if not socket.done:
            socket.done = True
            self.finished += 1
            if self.finished >= self.expected:
                self.all_done.set()


def _timeline(by_second: dict[int, list[int]]) -> str:
    """p99 of each second of the run: the median second shows the steady state, the worst one the bursts."""
    if not by_second:
        return "no tokens"
    first = min(by_second)
    p99s = sorted((Latency.from_ns(samples).p99_ms, second - first) for second, samples in by_second.items())
    worst, at = p99s[-1]
    median = p99s[len(p99s) // 2][0]
    slow = sum(1 for p99, _ in p99s if p99 > 10)
    return (
        f"p99 per second of the run: median {median:.1f} ms, worst {worst:.1f} ms (second {at}), "
        f"{slow} of {len(p99s)} seconds above 10 ms"
    )


def _p99_by_second(by_second: dict[int, list[int]]) -> list[float]:
    if not by_second:
        return []
    first = min(by_second)
    return [round(Latency.from_ns(by_second.get(second, [0])).p99_ms, 1) for second in range(first, max(by_second) + 1)]


async def _provider_stats(port: int) -> dict[str, int]:
    async with httpx.AsyncClient(timeout=5) as client:
        stats: dict[str, int] = (await client.get(f"http://127.0.0.1:{port}/stats")).json()
        return stats


async def run(env: BenchEnv, config: TokenConfig) -> ScenarioResult:
    result = ScenarioResult("tokens")
    provider, port = await env.start_fake_openai(config.rate)
    ai = openai_env(port)
    node_a = await env.start_node("A", **ai)
    node_b = await env.start_node("B", **ai)
    tenant = await env.tenant("tokens")
    probe = TokenProbe()
    probe.expected = 2 * config.sessions
    pairs = await open_pairs(config.sessions, node_a.ws, node_b.ws, tenant, probe.on_frame, probe.tag)
    await asyncio.sleep(0.5)

    tokens = round(config.rate * config.reply_seconds)
    meter = CpuMeter(
        {
            "node A": node_a.processes(),
            "node B": node_b.processes(),
            "fake AI": [psutil.Process(provider.pid)],
            "bench": [psutil.Process()],
        },
        env.database,
    )
    meter.start()
    began = time.monotonic()
    wall_began = time.time()
    loop = asyncio.get_running_loop()
    start = loop.time()
    for pair in pairs:
        # Spread the questions over a second so the streams tick at different phases, as real ones do.
        delay = start + pair.index * config.start_spread_s / config.sessions - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        pair.visitor.send_text(
            orjson.dumps({"type": "message", "text": f"bench tokens={tokens}", "client_id": "q1"}).decode()
        )
    # Replies queued behind others may need a second full reply time; 10 s more for the hub's own timeouts.
    timeout = 2 * config.reply_seconds + config.start_spread_s + 20
    timed_out = False
    try:
        await asyncio.wait_for(probe.all_done.wait(), timeout)
    except TimeoutError:
        timed_out = True
    elapsed = time.monotonic() - began
    cpu = meter.stop()
    stats = await _provider_stats(port)
    await close_pairs(pairs)
    problems = env.stop(node_b) + env.stop(node_a) + env.stop(provider)

    same = Latency.from_ns(probe.latency_ns["A"])
    cross = Latency.from_ns(probe.latency_ns["B"])
    lost = 0
    produced = 0
    for socket in probe.sockets:
        if socket.reply_tokens is not None:
            produced += socket.reply_tokens
            lost += socket.reply_tokens - len(socket.indexes)
    out_of_order = sum(socket.out_of_order + socket.mismatched for socket in probe.sockets)
    completed = sum(
        1 for seen in probe.by_session.values() if all(socket.reply_tokens is not None for socket in seen.values())
    )
    failed_sessions = sum(1 for socket in probe.sockets if socket.errors and socket.node == "A")
    delivered = len(probe.latency_ns["A"]) + len(probe.latency_ns["B"])

    n = config.sessions
    result.add(
        "AI replies streaming at once", f"{n}", f"{stats['max_active']} (provider saw)", stats["max_active"] >= n
    )
    result.add(
        "replies completed",
        f"{n}/{n}",
        f"{completed}/{n}" + (f", {failed_sessions} ai_unavailable" if failed_sessions else ""),
        completed == n,
    )
    result.add(
        "token latency same node (A)", f"p99 <= {SAME_NODE_P99_MS:g} ms", same.text(), same.p99_ms <= SAME_NODE_P99_MS
    )
    result.add(
        "token latency cross node (B)",
        f"p99 <= {CROSS_NODE_P99_MS:g} ms",
        cross.text(),
        cross.p99_ms <= CROSS_NODE_P99_MS,
    )
    result.add("tokens lost", "0", f"{lost} of {produced}", lost == 0 and produced > 0)
    result.add("tokens out of order", "0", str(out_of_order), out_of_order == 0)
    result.add("token frames delivered", "-", f"{delivered} in {elapsed:.1f}s ({delivered / elapsed:.0f}/s)")
    result.notes.append(CpuMeter.text(cpu))
    for node, label in (("A", "same node"), ("B", "cross node")):
        result.notes.append(f"{label}: {_timeline(probe.by_second[node])}")
    result.notes.append(gcwatch.summary(wall_began, wall_began + elapsed))
    if timed_out:
        result.notes.append(f"gave up waiting after {timeout:.0f}s: {probe.finished}/{probe.expected} sockets done")
    errors = sorted({error for socket in probe.sockets for error in socket.errors})
    if errors:
        result.notes.append("errors seen: " + "; ".join(errors[:5]))
    if CpuMeter.busy(cpu, "bench") or CpuMeter.busy(cpu, "fake AI"):
        result.notes.append("the load generator's core was saturated: latencies include its own queueing")
    if stats["late_ticks"]:
        result.notes.append(
            f"fake provider ran late on {stats['late_ticks']} ticks (its core was busy, or the hub read slowly)"
        )
    result.notes.extend(problems)
    result.steal_percent = float(cpu["steal_percent"]) if cpu else 0.0
    result.details = {
        "config": vars(config),
        "provider": stats,
        "same_node": vars(same),
        "cross_node": vars(cross),
        "cpu": cpu,
        "p99_ms_by_second": {node: _p99_by_second(probe.by_second[node]) for node in ("A", "B")},
    }
    return result
