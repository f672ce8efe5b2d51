"""Numbers and their presentation: percentiles, result rows, the final table, CPU accounting.

CPU use is reported next to every result because on two cores the interesting question is always
"who ran out of CPU first": the hub nodes, the load generator, Redis or PostgreSQL.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

# A phase in which the hypervisor kept this VM off its CPU this much of the time is flagged.
STEAL_WARN_PERCENT = 5.0


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (nan when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Latency:
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def from_ns(cls, samples_ns: Iterable[int]) -> Latency:
        ordered = sorted(samples_ns)
        return cls(
            count=len(ordered),
            p50_ms=percentile(ordered, 0.50) / 1e6,
            p99_ms=percentile(ordered, 0.99) / 1e6,
            max_ms=(ordered[-1] / 1e6) if ordered else math.nan,
        )

    def text(self) -> str:
        return f"p50 {self.p50_ms:.2f} / p99 {self.p99_ms:.2f} / max {self.max_ms:.2f} ms (n={self.count})"


@dataclass
class Row:
    """One line of the result table; ``ok`` is None for information without a target."""

    scenario: str
    metric: str
    target: str
    measured: str
    ok: bool | None

    @property
    def verdict(self) -> str:
        return "-" if self.ok is None else ("PASS" if self.ok else "FAIL")


@dataclass
class ScenarioResult:
    name: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    # Hypervisor steal in the phases whose latency is judged: from STEAL_WARN_PERCENT on, it runs again.
    steal_percent: float = 0.0

    def add(self, metric: str, target: str, measured: str, ok: bool | None = None) -> None:
        self.rows.append(Row(self.name, metric, target, measured, ok))

    @property
    def disturbed(self) -> bool:
        return self.steal_percent >= STEAL_WARN_PERCENT

    def verdict(self) -> str:
        failed = [row.metric for row in self.rows if row.ok is False]
        return "all PASS" if not failed else "FAIL: " + ", ".join(failed)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "rows": [asdict(row) for row in self.rows], "notes": self.notes, **self.details}


def table(rows: Sequence[Row]) -> str:
    header = ("scenario", "metric", "target", "measured", "result")
    cells = [header, *((row.scenario, row.metric, row.target, row.measured, row.verdict) for row in rows)]
    widths = [max(len(line[column]) for line in cells) for column in range(len(header))]
    rule = "+".join("-" * (width + 2) for width in widths)
    lines = [f"+{rule}+"]
    for index, line in enumerate(cells):
        lines.append("| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) + " |")
        if index == 0:
            lines.append(f"+{rule}+")
    lines.append(f"+{rule}+")
    return "\n".join(lines)


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| scenario | metric | target | measured | result |", "|---|---|---|---|---|"]
    lines += [f"| {r.scenario} | {r.metric} | {r.target} | {r.measured} | {r.verdict} |" for r in rows]
    return "\n".join(lines)


def _redis_and_postgres(database: str) -> dict[str, list[psutil.Process]]:
    """Redis, and the PostgreSQL backends serving this run's database (found by their process title)."""
    found: dict[str, list[psutil.Process]] = {"redis": [], "postgres": []}
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            name = process.info["name"] or ""
            command = " ".join(process.info["cmdline"] or ())
        except (psutil.Error, TypeError):
            continue
        if name.startswith("redis-server"):
            found["redis"].append(process)
        elif "postgres" in name and database in command:
            found["postgres"].append(process)
    return found


Snapshot = dict[int, tuple[float, float, str]]  # pid -> (create time, CPU seconds, short label)


def _snapshot() -> Snapshot:
    taken: Snapshot = {}
    for process in psutil.process_iter(["name", "cmdline", "create_time", "cpu_times"]):
        info = process.info
        times = info.get("cpu_times")
        if times is None:
            continue
        argv = list(info.get("cmdline") or ())
        command = " ".join([argv[0].rsplit("/", 1)[-1], *argv[1:]]) if argv else str(info.get("name"))
        command = " ".join(command.split())[:60]
        taken[process.pid] = (float(info.get("create_time") or 0.0), float(times.user + times.system), command)
    return taken


class CpuMeter:
    """CPU use per role, per core, and of everything else on the machine between ``start`` and ``stop``.

    Every process is sampled, so what is not ours (another program on a shared machine) is named
    instead of silently slowing the hub down; kernel interrupt work (loopback networking runs there)
    and hypervisor steal time are shown apart.
    """

    def __init__(self, roles: dict[str, list[psutil.Process]], database: str) -> None:
        self.roles = roles
        self.database = database
        self._start: Snapshot = {}
        self._start_total: Any = None
        self._start_cores: list[Any] = []
        self._began = 0.0
        self.result: dict[str, Any] = {}

    def start(self) -> None:
        self._began = time.monotonic()
        self._start_cores = psutil.cpu_times(percpu=True)
        self._start_total = psutil.cpu_times()
        self._start = _snapshot()

    def stop(self) -> dict[str, Any]:
        wall = max(1e-6, time.monotonic() - self._began)
        now = _snapshot()
        used: dict[int, float] = {}
        for pid, (created, cpu, _label) in now.items():
            before = self._start.get(pid)
            used[pid] = cpu - before[1] if before is not None and before[0] == created else cpu
        shares: dict[str, float] = {}
        claimed: set[int] = set()
        for role, processes in {**self.roles, **_redis_and_postgres(self.database)}.items():
            pids = {process.pid for process in processes} - claimed
            claimed |= pids
            shares[role] = round(100 * sum(used.get(pid, 0.0) for pid in pids) / wall, 1)
        others = sorted(((seconds, pid) for pid, seconds in used.items() if pid not in claimed), reverse=True)
        shares["other processes"] = round(100 * sum(seconds for seconds, _ in others) / wall, 1)
        top = [f"{now[pid][2]} {100 * seconds / wall:.0f}%" for seconds, pid in others[:3] if seconds / wall >= 0.02]
        total = psutil.cpu_times()
        kernel = sum(getattr(total, name, 0.0) - getattr(self._start_total, name, 0.0) for name in ("irq", "softirq"))
        steal = getattr(total, "steal", 0.0) - getattr(self._start_total, "steal", 0.0)
        cores = []
        for before, after in zip(self._start_cores, psutil.cpu_times(percpu=True), strict=True):
            spent = sum(after) - sum(before)
            idle = (after.idle + getattr(after, "iowait", 0.0)) - (before.idle + getattr(before, "iowait", 0.0))
            cores.append(round(100 * (1 - idle / spent), 1) if spent > 0 else 0.0)
        self.result = {
            "seconds": round(wall, 1),
            "process_cpu_percent": shares,
            "kernel_irq_percent": round(100 * kernel / wall, 1),
            "steal_percent": round(100 * steal / wall, 1),
            "top_other_processes": top,
            "core_busy_percent": cores,
        }
        return self.result

    @staticmethod
    def busy(result: dict[str, Any], role: str) -> bool:
        """True when ``role`` used nearly a whole core: then it, not the hub, may have set the pace."""
        return bool(result) and float(result["process_cpu_percent"].get(role, 0.0)) >= 90.0

    @staticmethod
    def text(result: dict[str, Any]) -> str:
        shares = ", ".join(f"{role} {value:.0f}%" for role, value in result["process_cpu_percent"].items())
        cores = ", ".join(f"core {index} {value:.0f}%" for index, value in enumerate(result["core_busy_percent"]))
        extra = f"kernel irq {result['kernel_irq_percent']:.0f}%"
        steal = result["steal_percent"]
        if steal >= 1:
            extra += f", hypervisor steal {steal:.0f}%"
        if steal >= STEAL_WARN_PERCENT:  # every latency miss measured here came with 4.6% or more
            extra += " (the VM was not running: latencies include it)"
        if result["top_other_processes"]:
            extra += "; busiest other: " + ", ".join(result["top_other_processes"])
        return f"CPU over {result['seconds']}s (100% = one core): {shares}, {extra}; busy: {cores}"


async def wait_for_quiet(max_wait_s: float, threshold_percent: float = 15.0) -> float:
    """Wait (bounded) until the machine is nearly idle, so other work does not pollute the numbers.

    Returns the last reading: the average busy share of all cores over one second, in percent.
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        busy = await asyncio.to_thread(psutil.cpu_percent, 1.0)
        if busy <= threshold_percent or time.monotonic() >= deadline:
            return float(busy)
