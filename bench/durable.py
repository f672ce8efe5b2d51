"""Scenario "durable": visitor messages stored in PostgreSQL, then fanned out to node B through Redis.

Senders are the visitors' sockets on node A; each session also has a socket on node B, and the
latency is B's receive time minus the time the client wrote the frame (stamped into the text), so
it covers parse, the batched commit, publish, Redis, and B's send. Load is open-loop (paced by the
clock, not by replies), so a hub that falls behind shows up as latency, not as a politely slower
client. The AI is off (``HUB_AI_PROVIDER=none``) so nothing else runs.

The sustained rate is found by steps of rising rate; between the last step that held and the first
that did not, a few more steps bisect the gap.

Every message waits for a PostgreSQL commit (a WAL flush to this machine's disk), so the scenario
first measures that floor without the hub: one-row commits, one at a time, for a few seconds.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
import psutil

from bench.pairs import Pair, close_pairs, open_pairs
from bench.report import CpuMeter, Latency, ScenarioResult
from bench.services import BenchEnv
from bench.wsclient import WsClient

SUSTAINED_TARGET = 5000
SUSTAINED_P99_MS = 200.0
PACED_P99_MS = 10.0
PAD = "x" * 40  # about 80 bytes of text in all: a short chat line
SETTLE_SECONDS = 15.0  # how long a step's backlog may take to arrive before the next step starts


@dataclass
class DurableConfig:
    sessions: int = 1000
    paced_rate: int = 1000
    paced_seconds: float = 15.0
    steps: tuple[int, ...] = (1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 15000, 20000)
    refine: int = 2
    step_seconds: float = 8.0


@dataclass
class Phase:
    """Everything sent and received in one paced phase (its number is in each message's text)."""

    rate: int
    sent: int = 0
    cross_ns: list[int] = field(default_factory=list)
    same_ns: list[int] = field(default_factory=list)
    send_seconds: float = 0.0
    cpu: dict[str, Any] = field(default_factory=dict)

    @property
    def received(self) -> int:
        return len(self.cross_ns)

    @property
    def sustained(self) -> bool:
        """Every message arrived, p99 stayed within bound, and the client managed to send at the rate."""
        on_time = self.send_seconds <= 1.02 * self.sent / self.rate + 0.05
        return self.received == self.sent and self.latency.p99_ms <= SUSTAINED_P99_MS and on_time

    @property
    def latency(self) -> Latency:
        return Latency.from_ns(self.cross_ns)


@dataclass
class Side:
    """One socket's view: seqs must arrive gapless and in order, as must the sender's counter."""

    node: str
    last_seq: int = 0
    last_k: int = -1
    gaps: int = 0
    out_of_order: int = 0


class DurableProbe:
    def __init__(self) -> None:
        self.phases: list[Phase] = []
        self.errors: dict[str, int] = {}

    def tag(self, _index: int, node: str) -> Side:
        return Side(node)

    def on_frame(self, client: WsClient, payload: bytes, now: int) -> None:
        frame = orjson.loads(payload)
        kind = frame.get("type")
        if kind != "message":
            if kind == "error":
                code = str(frame.get("code"))
                self.errors[code] = self.errors.get(code, 0) + 1
            return
        side: Side = client.tag
        seq = frame["seq"]
        if seq != side.last_seq + 1:
            if seq <= side.last_seq:
                side.out_of_order += 1
            else:
                side.gaps += 1
        side.last_seq = max(side.last_seq, seq)
        number, stamp, counter, _ = frame["text"].split(" ", 3)
        k = int(counter)
        if k <= side.last_k:
            side.out_of_order += 1
        side.last_k = max(side.last_k, k)
        phase = self.phases[int(number)]
        if side.node == "B":
            phase.cross_ns.append(now - int(stamp))
        else:
            phase.same_ns.append(now - int(stamp))

    @property
    def outstanding(self) -> int:
        return sum(phase.sent - phase.received for phase in self.phases)

    async def settle(self, timeout: float) -> bool:
        """Wait until B has every message sent so far; False if some are still missing at the timeout."""
        deadline = time.monotonic() + timeout
        while self.outstanding > 0:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True


class Sender:
    """Round-robin over the visitors on A; every message has a fresh ``client_id`` as the widget sends."""

    def __init__(self, pairs: list[Pair], probe: DurableProbe) -> None:
        self.pairs = pairs
        self.probe = probe
        self.counters = [0] * len(pairs)
        self.next = 0

    def send(self, phase_number: int) -> None:
        index = self.next
        self.next = (index + 1) % len(self.pairs)
        k = self.counters[index]
        self.counters[index] = k + 1
        text = f"{phase_number} {time.time_ns()} {k} {PAD}"
        self.pairs[index].visitor.send_text(
            orjson.dumps({"type": "message", "text": text, "client_id": f"m{k}"}).decode()
        )

    async def phase(self, rate: int, seconds: float, meter: CpuMeter | None = None) -> Phase:
        """Send at ``rate`` for ``seconds`` by the clock, then wait (bounded) for B to get every message."""
        phase = Phase(rate)
        number = len(self.probe.phases)
        self.probe.phases.append(phase)
        loop = asyncio.get_running_loop()
        total = math.floor(rate * seconds)
        if meter is not None:
            meter.start()
        start = loop.time()
        while phase.sent < total:
            due = min(total, math.floor((loop.time() - start) * rate) + 1)
            while phase.sent < due:
                self.send(number)
                phase.sent += 1
            # uvloop's timers tick in whole milliseconds: a shorter sleep would spin this core.
            await asyncio.sleep(0.001)
        phase.send_seconds = loop.time() - start
        if meter is not None:
            phase.cpu = meter.stop()
        await self.probe.settle(SETTLE_SECONDS)
        return phase


async def _ramp(sender: Sender, config: DurableConfig, meter: CpuMeter) -> tuple[Phase | None, Phase | None]:
    """Rising steps, then bisection: returns the best sustained phase and the lowest failing one."""
    best: Phase | None = None
    failed: Phase | None = None

    async def step(rate: int) -> bool:
        nonlocal best, failed
        phase = await sender.phase(rate, config.step_seconds, meter)
        ok = phase.sustained
        if CpuMeter.busy(phase.cpu, "bench"):
            print("  (the load generator used a whole core in this step: the hub may have had more to give)")
        print(
            f"  step {rate}/s: sent {phase.sent} in {phase.send_seconds:.1f}s, B got {phase.received} in time, "
            f"{phase.latency.text()} -> {'sustained' if ok else 'NOT sustained'}; {CpuMeter.text(phase.cpu)}",
            flush=True,
        )
        if ok and (best is None or rate > best.rate):
            best = phase
        if not ok and (failed is None or rate < failed.rate):
            failed = phase
        return ok

    for rate in config.steps:
        if not await step(rate):
            break
    for _ in range(config.refine):
        low = best.rate if best else 0
        if failed is None or failed.rate - low <= 250:
            break
        if sender.probe.outstanding > 0:
            break  # the hub is still behind from the failed step: a new step would measure that backlog
        await step(int(round((low + failed.rate) / 2, -2)))
    return best, failed


async def commit_floor(database_url: str, seconds: float = 5.0, rate: float = 300.0) -> Latency:
    """One-row INSERTs, each its own committed transaction, paced: the disk's share of every message."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("CREATE TABLE IF NOT EXISTS bench_commit_floor (id bigserial PRIMARY KEY, v text)")
        samples: list[int] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            began = time.perf_counter_ns()
            await connection.execute("INSERT INTO bench_commit_floor (v) VALUES ('x')")
            samples.append(time.perf_counter_ns() - began)
            await asyncio.sleep(1 / rate)
        await connection.execute("DROP TABLE bench_commit_floor")
    finally:
        await connection.close()
    return Latency.from_ns(samples)


async def run(env: BenchEnv, config: DurableConfig) -> ScenarioResult:
    result = ScenarioResult("durable")
    node_a = await env.start_node("A", HUB_AI_PROVIDER="none")
    node_b = await env.start_node("B", HUB_AI_PROVIDER="none")
    tenant = await env.tenant("durable")
    probe = DurableProbe()
    began = time.monotonic()
    pairs = await open_pairs(config.sessions, node_a.ws, node_b.ws, tenant, probe.on_frame, probe.tag)
    print(f"  {config.sessions} sessions open (visitor on A, second socket on B) in {time.monotonic() - began:.1f}s")
    sender = Sender(pairs, probe)
    meter = CpuMeter(
        {"node A": node_a.processes(), "node B": node_b.processes(), "bench": [psutil.Process()]}, env.database
    )

    # Warm-up: every session gets two messages (creating its row) before anything is measured.
    warm_rate = min(1000, config.paced_rate)
    await sender.phase(warm_rate, 2 * config.sessions / warm_rate)

    floor = await commit_floor(env.database_url)
    print(f"  PostgreSQL commit floor (one-row commits, no hub): {floor.text()}", flush=True)
    paced = await sender.phase(config.paced_rate, config.paced_seconds, meter)
    paced_same = Latency.from_ns(paced.same_ns)
    print(f"  paced {config.paced_rate}/s: B {paced.latency.text()}; A echo {paced_same.text()}", flush=True)
    best, failed = await _ramp(sender, config, meter)
    settled = await probe.settle(SETTLE_SECONDS)

    await close_pairs(pairs)
    problems = env.stop(node_b) + env.stop(node_a)

    best_rate = best.rate if best else 0
    top = max(config.steps)
    result.add(
        "max sustained rate, A -> B",
        f">= {SUSTAINED_TARGET} msg/s",
        f"{best_rate} msg/s ({config.sessions} sessions)" + ("" if failed else f", stopped at the top step {top}"),
        best_rate >= SUSTAINED_TARGET,
    )
    result.add(
        "p99 at that rate",
        f"<= {SUSTAINED_P99_MS:g} ms",
        best.latency.text() if best else "-",
        best is not None and best.latency.p99_ms <= SUSTAINED_P99_MS,
    )
    if failed is not None:
        result.add(
            f"first rate not sustained ({failed.rate} msg/s)",
            "-",
            f"B got {failed.received}/{failed.sent} in time, p99 {failed.latency.p99_ms:.0f} ms",
        )
    result.add(
        f"latency A -> B at {config.paced_rate} msg/s",
        f"p99 <= {PACED_P99_MS:g} ms",
        paced.latency.text(),
        paced.latency.p99_ms <= PACED_P99_MS and paced.received == paced.sent,
    )
    result.add(f"echo latency on A at {config.paced_rate} msg/s", "-", paced_same.text())
    result.add("PostgreSQL commit alone (the floor)", "-", floor.text())
    sent = sum(phase.sent for phase in probe.phases)
    lost = probe.outstanding
    sides = [pair.watcher.tag for pair in pairs] + [pair.visitor.tag for pair in pairs]
    disorder = sum(side.out_of_order + side.gaps for side in sides)
    result.add(
        "messages lost", "0", f"{lost} of {sent}" + ("" if settled else " (still missing at the end)"), lost == 0
    )
    result.add("messages out of order / seq gaps", "0", str(disorder), disorder == 0)
    result.notes.append(f"paced {config.paced_rate}/s: " + CpuMeter.text(paced.cpu))
    if best is not None:
        result.notes.append(f"at {best_rate}/s: " + CpuMeter.text(best.cpu))
    if failed is not None:
        result.notes.append(f"at {failed.rate}/s: " + CpuMeter.text(failed.cpu))
    if probe.errors:
        result.notes.append(f"error frames: {probe.errors}")
    result.notes.extend(problems)
    judged = [phase for phase in (paced, best) if phase is not None and phase.cpu]
    result.steal_percent = max((float(phase.cpu["steal_percent"]) for phase in judged), default=0.0)
    result.details = {
        "config": {**vars(config), "steps": list(config.steps)},
        "paced": {"cross": vars(paced.latency), "same": vars(paced_same), "cpu": paced.cpu},
        "commit_floor": vars(floor),
        "steps": [
            {
                "rate": phase.rate,
                "sent": phase.sent,
                "received": phase.received,
                "send_seconds": round(phase.send_seconds, 2),
                "sustained": phase.sustained,
                "cross": vars(phase.latency),
                "cpu": phase.cpu,
            }
            for phase in probe.phases[2:]
        ],
    }
    return result
