"""Scenario "soak": a mixed, steady load held for a long time on two nodes, reported minute by minute.

What a day of real traffic does, compressed: visitors chat with the AI (each question answered by a
streamed reply), think, ask again, and now and then reconnect to the other node and resume; agents
in Mission Control watch conversations, take one over, write, and hand it back; older clients use
the HTTP fallback. Nothing ramps: the load is the same every minute, so anything that grows (memory,
the hub's tasks, its connections, Redis keys) is a leak, and latency that creeps up is a slow path.

Every minute it samples each node's memory (RSS), asyncio tasks (from ``/metrics``), file
descriptors and TCP connections, Redis memory and the run's keys, and PostgreSQL backends; and it
reports that minute's token latency, message echo latency, HTTP turn time, and what was answered.
At the end every question must have been answered and every seq must have arrived without a gap,
across every reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
import orjson
import psutil
from redis.asyncio import Redis

from bench import gcwatch
from bench.report import CpuMeter, Latency, ScenarioResult
from bench.services import METRICS_TOKEN, BenchEnv, BenchTenant, Node, openai_env
from bench.wsclient import HandshakeFailed, WsClient, connect

ANSWER_TIMEOUT_S = 60.0  # a question not answered in this long counts as unanswered
MEMORY_GROWTH_LIMIT = 0.10  # RSS after the warm-up may grow this share by the last minute
AGENT_TEXT = "An agent here: I am looking at your question."


@dataclass
class SoakConfig:
    minutes: float = 30.0
    warmup_minutes: int = 2  # allocator and caches settle; growth is judged from the end of these
    visitors: int = 200
    think_s: tuple[float, float] = (4.0, 12.0)
    reply_tokens: int = 33  # what an average answered message streams (issue 16's measurement)
    token_rate: float = 20.0  # tokens per second per reply, from the fake provider
    reconnect_share: float = 0.1  # of the turns, followed by a reconnect to the other node
    agents: int = 4
    watch_per_agent: int = 10
    http_rate: float = 1.0  # HTTP fallback turns per second, both nodes in turn
    http_clients: int = 20


@dataclass
class Minute:
    """What happened in one minute of the run (by the time it happened)."""

    questions: int = 0
    answered: int = 0
    answered_by_agent: int = 0
    token_ns: list[int] = field(default_factory=list)
    echo_ns: list[int] = field(default_factory=list)
    http_ns: list[int] = field(default_factory=list)
    http_failed: int = 0
    reconnects: int = 0
    takeovers: int = 0
    agent_frames: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    sample: dict[str, Any] = field(default_factory=dict)


class Clock:
    """Minute numbers of the run; every event is booked into the minute it happened in."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.minutes: list[Minute] = [Minute()]

    @property
    def now(self) -> Minute:
        return self.at(int((time.monotonic() - self.began) // 60))

    def at(self, index: int) -> Minute:
        while len(self.minutes) <= index:
            self.minutes.append(Minute())
        return self.minutes[index]

    def error(self, code: str) -> None:
        errors = self.now.errors
        errors[code] = errors.get(code, 0) + 1


class Visitor:
    """One widget: a socket on one node at a time, a question, the wait for its answer, a pause."""

    def __init__(self, index: int, clock: Clock, urls: tuple[str, str], tenant: str, config: SoakConfig) -> None:
        self.index = index
        self.clock = clock
        self.urls = urls
        self.tenant = tenant
        self.config = config
        self.node = index % 2
        self.client: WsClient | None = None
        self.retired: set[WsClient] = set()
        self.session_id = ""
        self.resume_token = ""
        self.last_seq = 0
        self.gaps = 0
        self.duplicates = 0
        self.asked = 0
        self.unanswered = 0
        self.tokens_lost = 0
        self.reply_indexes: dict[str, set[int]] = {}
        self.question: tuple[str, int] | None = None  # (client_id, sent ns)
        self.question_seq: int | None = None
        self.answered = asyncio.Event()
        self.rng = random.Random(index)

    async def open(self) -> None:
        url = f"{self.urls[self.node]}/ws/visitor/{self.tenant}"
        if self.session_id:
            query = {"session_id": self.session_id, "resume_token": self.resume_token, "last_seq": self.last_seq}
            url += "?" + urlencode(query)
        client, ready = await connect(url, self.on_frame, tag=self)
        if not self.session_id:
            self.session_id = ready["session_id"]
            self.resume_token = ready["resume_token"]
        self.client = client

    def on_frame(self, client: WsClient, payload: bytes, now: int) -> None:
        if client in self.retired:
            return  # the socket this visitor left behind, closing
        frame = orjson.loads(payload)
        kind = frame.get("type")
        if kind == "token":
            stamp = frame["text"].rpartition(":")[2]
            self.clock.now.token_ns.append(now - int(stamp))
            self.reply_indexes.setdefault(frame["message_id"], set()).add(frame["index"])
        elif kind == "message":
            self._message(frame, now)
        elif kind == "error":
            self.clock.error(str(frame.get("code")))
        elif kind == "reply_aborted":
            self.clock.error("reply_aborted")

    def _message(self, frame: dict[str, Any], now: int) -> None:
        seq = frame["seq"]
        if seq <= self.last_seq:
            self.duplicates += 1
            return
        if seq != self.last_seq + 1:
            self.gaps += 1
        self.last_seq = seq
        role = frame["role"]
        question = self.question
        if role == "visitor" and question is not None and frame.get("client_id") == question[0]:
            self.question_seq = seq
            self.clock.now.echo_ns.append(now - question[1])
        elif role == "ai":
            streamed = self.reply_indexes.pop(frame["id"], set())
            if 0 in streamed:  # a reply whose start streamed to this socket must have streamed whole
                self.tokens_lost += max(0, len(frame["text"].split()) - len(streamed))
            if self.question_seq is not None and (frame.get("replies_to") or 0) >= self.question_seq:
                self._answer(by_agent=False)
        elif role == "agent" and self.question_seq is not None:
            self._answer(by_agent=True)

    def _answer(self, *, by_agent: bool) -> None:
        if not self.answered.is_set():
            minute = self.clock.now
            minute.answered += 1
            minute.answered_by_agent += by_agent
            self.answered.set()

    async def ask(self) -> None:
        assert self.client is not None
        self.asked += 1
        client_id = f"q{self.asked}"
        self.answered.clear()
        self.question_seq = None
        self.question = (client_id, time.time_ns())
        self.clock.now.questions += 1
        text = f"soak question {self.asked} tokens={self.config.reply_tokens}"
        self.client.send_text(orjson.dumps({"type": "message", "text": text, "client_id": client_id}).decode())
        try:
            await asyncio.wait_for(self.answered.wait(), ANSWER_TIMEOUT_S)
        except TimeoutError:
            self.unanswered += 1
            self.clock.error("unanswered")

    async def reconnect(self) -> None:
        """Leave politely and resume on the other node from the last seq seen: nothing may be missing."""
        if self.client is not None:
            self.retired = {self.client}
            await self.client.close()
        self.reply_indexes.clear()  # a reply streaming meanwhile is seen only in part, then whole as its message
        self.node = 1 - self.node
        self.clock.now.reconnects += 1
        await self.open()

    async def run(self, until: float) -> None:
        await asyncio.sleep(self.rng.uniform(0, self.config.think_s[1]))  # no thundering first minute
        while time.monotonic() < until:
            try:
                if self.client is None or not self.client.is_open:
                    await self.open()
                await self.ask()
                if self.rng.random() < self.config.reconnect_share:
                    await self.reconnect()
            except (HandshakeFailed, OSError, TimeoutError) as exc:
                self.clock.error(f"visitor socket: {type(exc).__name__}")
                self.client = None
            await asyncio.sleep(self.rng.uniform(*self.config.think_s))

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


class AgentDesk:
    """One agent in Mission Control: watches a rotating set of conversations, takes one over a minute."""

    def __init__(self, index: int, clock: Clock, url: str, token: str, visitors: list[Visitor], config: SoakConfig):
        self.index = index
        self.clock = clock
        self.url = url
        self.token = token
        self.visitors = visitors
        self.config = config
        self.client: WsClient | None = None
        self.watching: list[str] = []
        self.rng = random.Random(1000 + index)

    def on_frame(self, client: WsClient, payload: bytes, now: int) -> None:
        self.clock.now.agent_frames += 1
        if payload.startswith(b'{"type":"error"'):
            self.clock.error("agent: " + str(orjson.loads(payload).get("code")))

    def send(self, frame: dict[str, Any]) -> None:
        if self.client is not None and self.client.is_open:
            self.client.send_text(orjson.dumps(frame).decode())

    async def run(self, until: float) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        self.client, _ = await connect(f"{self.url}/ws/agent", self.on_frame, tag=self, headers=headers)
        await asyncio.sleep(self.config.think_s[1] + 3)  # every visitor has asked once: its conversation exists
        while time.monotonic() < until:
            for session_id in self.watching:
                self.send({"type": "unwatch", "session_id": session_id})
            mine = self.visitors[self.index :: self.config.agents]  # no two agents reach for one conversation
            mine = [visitor for visitor in mine if visitor.asked]  # a conversation starts with its first message
            chosen = self.rng.sample(mine, min(self.config.watch_per_agent, len(mine)))
            self.watching = [visitor.session_id for visitor in chosen if visitor.session_id]
            for session_id in self.watching:
                self.send({"type": "watch", "session_id": session_id})
            await asyncio.sleep(self.rng.uniform(5, 20))
            if self.watching:
                session_id = self.watching[0]
                self.send({"type": "takeover", "session_id": session_id})
                self.send({"type": "message", "session_id": session_id, "text": AGENT_TEXT})
                self.clock.now.takeovers += 1
                await asyncio.sleep(2.0)
                self.send({"type": "handback", "session_id": session_id})
            await asyncio.sleep(max(0.0, 60 - 22 - self.rng.uniform(0, 10)))
        await self.client.close()


async def _login(base_url: str, email: str, password: str) -> str:
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(f"{base_url}/api/auth/login", json={"email": email, "password": password})
        answer.raise_for_status()
        token: str = answer.json()["token"]
        return token


async def _http_fallback(
    clock: Clock, bases: tuple[str, str], tenant: BenchTenant, config: SoakConfig, until: float
) -> None:
    """Old clients: one HTTP turn at a time per client (a cookie jar each), started at a steady rate."""
    clients = [httpx.AsyncClient(timeout=ANSWER_TIMEOUT_S) for _ in range(config.http_clients)]
    busy = [False] * len(clients)
    running: set[asyncio.Task[None]] = set()

    async def turn(number: int, slot: int) -> None:
        began = time.perf_counter_ns()
        body = {
            "message": f"soak http {number} tokens={config.reply_tokens}",
            "session_id": f"soak-http-{slot}",
            "business_id": tenant.business_id,
        }
        try:
            answer = await clients[slot].post(f"{bases[number % 2]}/api/chat", json=body)
            ok = answer.status_code == 200 and bool(answer.json().get("reply"))
            if not ok:
                clock.error(f"http {answer.status_code}")
        except httpx.HTTPError as exc:
            ok = False
            clock.error(f"http {type(exc).__name__}")
        minute = clock.now
        if ok:
            minute.http_ns.append(time.perf_counter_ns() - began)
        else:
            minute.http_failed += 1
        busy[slot] = False

    number = 0
    try:
        while time.monotonic() < until:
            free = [slot for slot, taken in enumerate(busy) if not taken]
            if free:
                slot = free[0]
                busy[slot] = True
                task = asyncio.create_task(turn(number, slot))
                running.add(task)
                task.add_done_callback(running.discard)
            else:
                clock.error("http: every client still waiting")
            number += 1
            await asyncio.sleep(1 / config.http_rate)
        await asyncio.wait_for(asyncio.gather(*running), ANSWER_TIMEOUT_S + 5)
    finally:
        for client in clients:
            await client.aclose()


async def _tasks(client: httpx.AsyncClient, node: Node) -> int | None:
    """The node's live asyncio tasks, as its /metrics reports them (None when it does not)."""
    with contextlib.suppress(httpx.HTTPError):
        metrics = f"http://127.0.0.1:{node.port}/metrics"
        text = (await client.get(metrics, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})).text
        for line in text.splitlines():
            if line.startswith("hub_asyncio_tasks"):
                return int(float(line.rsplit(" ", 1)[1]))
    return None


async def _sample(env: BenchEnv, nodes: list[Node], redis: Redis, database: asyncpg.Connection) -> dict[str, Any]:
    sample: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=5) as client:
        for node in nodes:
            processes = node.processes()
            sample[f"{node.name} rss MiB"] = round(node.rss() / 2**20, 1)
            sample[f"{node.name} tasks"] = await _tasks(client, node)
            sample[f"{node.name} fds"] = sum(process.num_fds() for process in processes)
            sample[f"{node.name} tcp"] = sum(
                1 for process in processes for conn in process.net_connections("tcp") if conn.status == "ESTABLISHED"
            )
    sample["redis MiB"] = round(int((await redis.info("memory"))["used_memory"]) / 2**20, 1)
    sample["redis keys"] = sum([1 async for _ in redis.scan_iter(match=f"{env.redis_prefix}:*", count=1000)])
    sample["pg backends"] = await database.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", env.database
    )
    return sample


def _p99(samples: list[int]) -> float:
    return Latency.from_ns(samples).p99_ms if samples else float("nan")


def minute_table(minutes: list[Minute], first: int = 0) -> str:
    """One line per minute (numbered from ``first``): the soak's real result, to look at as a whole."""
    header = (
        f"{'min':>3} {'asked':>5} {'answ':>5} {'tok p99':>7} {'echo p99':>8} {'http p99':>8} {'A MiB':>6} "
        f"{'B MiB':>6} {'A task':>6} {'B task':>6} {'A tcp':>5} {'B tcp':>5} {'rKeys':>6} {'pg':>3} errors"
    )
    lines = [header]
    for number, minute in enumerate(minutes, start=first):
        s = minute.sample
        lines.append(
            f"{number:>3} {minute.questions:>5} {minute.answered:>5} {_p99(minute.token_ns):>7.1f} "
            f"{_p99(minute.echo_ns):>8.1f} {_p99(minute.http_ns):>8.0f} {s.get('A rss MiB', 0):>6} "
            f"{s.get('B rss MiB', 0):>6} {s.get('A tasks')!s:>6} {s.get('B tasks')!s:>6} {s.get('A tcp', 0):>5} "
            f"{s.get('B tcp', 0):>5} {s.get('redis keys', 0):>6} {s.get('pg backends', 0):>3} "
            + (", ".join(f"{code} {count}" for code, count in sorted(minute.errors.items())) or "-")
        )
    return "\n".join(lines)


def _flat(values: list[float], allowed: float) -> tuple[bool, str]:
    """Last value against the first after the warm-up; ``allowed`` is the growth accepted (absolute)."""
    first, last = values[0], values[-1]
    return last <= first + allowed, f"{first:g} -> {last:g} (max {max(values):g})"


async def run(env: BenchEnv, config: SoakConfig) -> ScenarioResult:
    result = ScenarioResult("soak")
    provider, port = await env.start_fake_openai(config.token_rate)
    ai = openai_env(port)
    nodes = [await env.start_node("A", **ai), await env.start_node("B", **ai)]
    urls = (nodes[0].ws, nodes[1].ws)
    bases = (f"http://127.0.0.1:{nodes[0].port}", f"http://127.0.0.1:{nodes[1].port}")
    tenant = await env.open_tenant("soak", plan="enterprise", agents=config.agents)
    clock = Clock()
    visitors = [Visitor(index, clock, urls, tenant.id, config) for index in range(config.visitors)]
    gate = asyncio.Semaphore(50)

    async def first_open(visitor: Visitor) -> None:
        async with gate:
            await visitor.open()

    await asyncio.gather(*(first_open(visitor) for visitor in visitors))
    tokens = [await _login(bases[index % 2], email, tenant.password) for index, email in enumerate(tenant.agent_emails)]
    desks = [AgentDesk(index, clock, urls[index % 2], token, visitors, config) for index, token in enumerate(tokens)]
    print(
        f"  {config.visitors} visitors, {config.agents} agents, HTTP {config.http_rate:g}/s, "
        f"for {config.minutes:g} minutes",
        flush=True,
    )

    redis = Redis.from_url(env.redis_url)
    database = await asyncpg.connect(env.database_url)
    meter = CpuMeter(
        {"node A": nodes[0].processes(), "node B": nodes[1].processes(), "fake AI": [psutil.Process(provider.pid)]},
        env.database,
    )
    clock.began = time.monotonic()
    wall_began = time.time()
    until = clock.began + config.minutes * 60
    meter.start()
    load = [
        *(asyncio.create_task(visitor.run(until)) for visitor in visitors),
        *(asyncio.create_task(desk.run(until)) for desk in desks),
        asyncio.create_task(_http_fallback(clock, bases, tenant, config, until)),
    ]
    try:
        for minute_number in range(1, int(config.minutes) + 1):
            await asyncio.sleep(max(0.0, clock.began + 60 * minute_number - time.monotonic()))
            minute = clock.at(minute_number - 1)
            minute.sample = await _sample(env, nodes, redis, database)
            line = minute_table(clock.minutes[minute_number - 1 : minute_number], minute_number - 1).splitlines()[-1]
            print(line, flush=True)
        done, pending = await asyncio.wait(load, timeout=ANSWER_TIMEOUT_S + 30)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                result.notes.append(f"a load task failed: {task.exception()!r}"[:200])
        cpu = meter.stop()
    finally:
        await asyncio.gather(*(visitor.close() for visitor in visitors), return_exceptions=True)
        await redis.aclose()
        await database.close()
    problems = env.stop(nodes[1]) + env.stop(nodes[0]) + env.stop(provider)
    _judge(result, config, clock.minutes[: int(config.minutes)], visitors)
    result.notes.append("per minute:\n" + minute_table(clock.minutes[: int(config.minutes)]))
    result.notes.append(CpuMeter.text(cpu))
    result.notes.append(gcwatch.summary(wall_began, time.time()))
    result.notes.extend(problems)
    result.details = {
        "config": {**vars(config), "think_s": list(config.think_s)},
        "minutes": [
            {
                "questions": m.questions,
                "answered": m.answered,
                "token": vars(Latency.from_ns(m.token_ns)),
                "echo": vars(Latency.from_ns(m.echo_ns)),
                "http": vars(Latency.from_ns(m.http_ns)),
                "http_failed": m.http_failed,
                "reconnects": m.reconnects,
                "takeovers": m.takeovers,
                "errors": m.errors,
                "sample": m.sample,
            }
            for m in clock.minutes[: int(config.minutes)]
        ],
        "cpu": cpu,
    }
    return result


def _judge(result: ScenarioResult, config: SoakConfig, minutes: list[Minute], visitors: list[Visitor]) -> None:
    settled = minutes[min(config.warmup_minutes, len(minutes) - 1) :]
    for node in ("A", "B"):
        rss = [float(m.sample[f"{node} rss MiB"]) for m in settled]
        ok, text = _flat(rss, MEMORY_GROWTH_LIMIT * rss[0])
        result.add(f"node {node} memory (RSS MiB) after warm-up", f"growth <= {MEMORY_GROWTH_LIMIT:.0%}", text, ok)
        tasks = [m.sample[f"{node} tasks"] for m in settled]
        if all(count is not None for count in tasks):
            # Tasks rise and fall with the replies in flight at the sampling instant: judge the trend.
            ok, text = _flat([float(count) for count in tasks], 0.2 * statistics.median(tasks) + 20)
            result.add(f"node {node} asyncio tasks", "no growth", text, ok)
        else:
            result.add(f"node {node} asyncio tasks", "no growth", "not reported by /metrics", False)
        tcp = [float(m.sample[f"{node} tcp"]) for m in settled]
        ok, text = _flat(tcp, 0.1 * tcp[0] + 10)
        result.add(f"node {node} TCP connections", "no growth", text, ok)
    keys = [float(m.sample["redis keys"]) for m in settled]
    ok, text = _flat(keys, 0.1 * keys[0] + 50)
    result.add("Redis keys of the run", "no growth", text, ok)
    asked = sum(visitor.asked for visitor in visitors)
    unanswered = sum(visitor.unanswered for visitor in visitors)
    by_agent = sum(m.answered_by_agent for m in minutes)
    result.add(
        "visitor questions answered",
        "all",
        f"{asked - unanswered} of {asked} ({by_agent} by an agent who had taken over)",
        unanswered == 0 and asked > 0,
    )
    gaps = sum(visitor.gaps + visitor.duplicates for visitor in visitors)
    reconnects = sum(m.reconnects for m in minutes)
    result.add("seq gaps or repeats, across reconnects", "0", f"{gaps} ({reconnects} reconnects)", gaps == 0)
    lost = sum(visitor.tokens_lost for visitor in visitors)
    result.add("tokens lost in streamed replies", "0", str(lost), lost == 0)
    http_ok = sum(len(m.http_ns) for m in minutes)
    http_failed = sum(m.http_failed for m in minutes)
    result.add("HTTP fallback turns failed", "0", f"{http_failed} of {http_ok + http_failed}", http_failed == 0)
    p99s = [_p99(m.token_ns) for m in settled if m.token_ns]
    if len(p99s) >= 2:
        half = max(1, len(p99s) // 2)
        early, late = statistics.median(p99s[:half]), statistics.median(p99s[half:])
        result.add(
            "token p99 per minute, later half vs earlier",
            "<= 1.5x + 2 ms",
            f"{early:.1f} -> {late:.1f} ms (worst minute {max(p99s):.1f} ms)",
            late <= 1.5 * early + 2,
        )
    echo = Latency.from_ns([sample for m in settled for sample in m.echo_ns])
    result.add("visitor message echo (stored + sent back)", "-", echo.text())
    http = Latency.from_ns([sample for m in settled for sample in m.http_ns])
    result.add(f"HTTP turn ({config.reply_tokens} tokens at {config.token_rate:g}/s)", "-", http.text())
