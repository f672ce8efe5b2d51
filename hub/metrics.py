"""What a node counts for Prometheus: one registry per node, built by ``Node.open`` and handed to each part.

Never prometheus-client's global registry: tests run several nodes in one process, and each must
report only its own. Parts built outside a node (tests, tools) count into ``Metrics.unexposed()``,
which nobody scrapes.

The per-frame paths stay cheap: a frame in or out adds one to a plain int of a slotted object (no
lock, no label lookup), exposed as a counter when Prometheus scrapes; AI tokens are counted once per
reply, at its end. Everything else happens per batch, per reply, per socket or per event, where
prometheus-client's own counters and histograms are cheap enough. Measured with timeit on this
project's development machine (2 shared cores, CPython 3.11, 2 million runs, best of 5): adding one to
a slot of a slotted object, 55 ns; a prometheus-client ``Counter.inc()``, 510 to 830 ns (it takes a
lock); ``labels(kind=...).inc()``, 3.6 µs. At the 165,000 token frames a second of a node holding
5,000 messages a second (33 tokens each), the plain int costs under 1 % of a core, a Counter 8-14 %.
``hub_asyncio_tasks`` and the process metrics (RSS, open fds, CPU) are computed at scrape time.

No metric has a per-tenant label: every label here takes a few fixed values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# No ``*_created`` series beside every counter and histogram: a third more series, which no dashboard reads.
disable_created_metrics()  # type: ignore[no-untyped-call]
# Seconds: a batch commit, a provider's first token, a publish's wait in the broker's queue.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500)
TOKEN_RATE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000)


class FrameCounts:
    """One kind of socket's frames in and out: plain ints, since a frame is counted on the hot path."""

    __slots__ = ("received", "sent")

    def __init__(self) -> None:
        self.received = 0
        self.sent = 0


class _ScrapeTime(Collector):
    """Values read when Prometheus asks: frames by socket kind, and the node's live asyncio tasks."""

    def __init__(self, frames: dict[str, FrameCounts], loop: asyncio.AbstractEventLoop | None) -> None:
        self.frames = frames
        self.loop = loop

    def collect(self) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "hub_frames_received", "WebSocket frames received from clients.", labels=["kind"]
        )
        sent = CounterMetricFamily("hub_frames_sent", "WebSocket frames sent to clients.", labels=["kind"])
        for kind, counts in self.frames.items():
            received.add_metric([kind], counts.received)
            sent.add_metric([kind], counts.sent)
        yield received
        yield sent
        if self.loop is not None:
            tasks = len(asyncio.all_tasks(self.loop))
            yield GaugeMetricFamily("hub_asyncio_tasks", "Live asyncio tasks on this node's event loop.", value=tasks)


class Metrics:
    """Every metric of one node.

    Labelled metrics come with their children bound once: no lookup per event, and every series exists
    (at zero) from the start, so a dashboard's ``rate()`` has something to read before the first event.
    """

    _unexposed: Metrics | None = None

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """``loop``: the node's event loop, whose tasks ``hub_asyncio_tasks`` counts (None: not reported)."""
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # process_resident_memory_bytes, process_open_fds, CPU seconds
        self.visitor_frames = FrameCounts()
        self.agent_frames = FrameCounts()
        registry.register(_ScrapeTime({"visitor": self.visitor_frames, "agent": self.agent_frames}, loop))

        sockets = Gauge("hub_sockets_open", "WebSocket connections open on this node.", ["kind"], registry=registry)
        self.visitor_sockets = sockets.labels(kind="visitor")
        self.agent_sockets = sockets.labels(kind="agent")

        self.messages_stored = Counter(
            "hub_messages_stored", "Messages committed by this node's writer.", registry=registry
        )
        self.writer_batch = Histogram(
            "hub_writer_batch_messages",
            "Messages per committed writer batch.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.writer_commit = Histogram(
            "hub_writer_commit_seconds",
            "Time to commit one writer batch.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

        self.ai_first_token = Histogram(
            "hub_ai_first_token_seconds",
            "From asking the AI provider to its first token.",
            buckets=FIRST_TOKEN_BUCKETS,
            registry=registry,
        )
        self.ai_tokens_per_second = Histogram(
            "hub_ai_tokens_per_second",
            "Tokens per second of each AI reply streamed to its end, after its first token.",
            buckets=TOKEN_RATE_BUCKETS,
            registry=registry,
        )
        self.ai_tokens = Counter(
            "hub_ai_tokens", "AI reply tokens streamed (counted at each reply's end).", registry=registry
        )
        self.ai_replies = Counter("hub_ai_replies", "AI replies by how they ended.", ["outcome"], registry=registry)
        self.ai_replies_completed = self.ai_replies.labels(outcome="completed")
        self.ai_replies_cut = self.ai_replies.labels(outcome="cut_short")
        self.ai_replies_failed = self.ai_replies.labels(outcome="provider_error")
        self.ai_provider_errors = Counter(
            "hub_ai_provider_errors", "Failures of the AI provider.", ["provider"], registry=registry
        )

        self.broker_publish_lag = Histogram(
            "hub_broker_publish_lag_seconds",
            "How long the oldest publish of a batch waited in the node's broker queue before Redis took it.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        dropped = Counter(
            "hub_broker_dropped_publishes",
            "Publishes the broker gave up (Redis away too long, or its queue full); "
            "other nodes catch up from the store.",
            ["reason"],
            registry=registry,
        )
        self.broker_dropped_stale = dropped.labels(reason="stale")
        self.broker_dropped_full = dropped.labels(reason="queue_full")
        resyncs = Counter(
            "hub_resyncs",
            "Times this node's listeners caught up from the store: its Redis subscriber came back, or another "
            "node announced that it dropped publishes.",
            ["cause"],
            registry=registry,
        )
        self.resyncs_reconnect = resyncs.labels(cause="reconnect")
        self.resyncs_catch_up = resyncs.labels(cause="catch_up")

        slow = Counter(
            "hub_slow_client_closes",
            "Sockets closed because they fell a whole send queue behind.",
            ["kind"],
            registry=registry,
        )
        self.visitor_slow_closes = slow.labels(kind="visitor")
        self.agent_slow_closes = slow.labels(kind="agent")
        refusals = Counter(
            "hub_rate_limit_refusals",
            "Requests (HTTP 429) and socket frames (rate_limited) refused by a rate limit.",
            ["path"],
            registry=registry,
        )
        self.http_rate_limited = refusals.labels(path="http")
        self.socket_rate_limited = refusals.labels(path="socket")

        webhooks = Counter(
            "hub_webhook_deliveries",
            "Webhook delivery attempts by outcome (failed: will be retried; gave_up: the last attempt failed).",
            ["outcome"],
            registry=registry,
        )
        self.webhooks_delivered = webhooks.labels(outcome="delivered")
        self.webhooks_failed = webhooks.labels(outcome="failed")
        self.webhooks_gave_up = webhooks.labels(outcome="gave_up")
        self.visitor_context_waiting = Gauge(
            "hub_visitor_context_waiting",
            "Visitors whose page views and activity wait in this node's memory to be written (read at scrape time).",
            registry=registry,
        )
        batches = Counter(
            "hub_visitor_context_batches",
            "Visitor-context batches this node wrote, by outcome (failed: the events wait and go again).",
            ["outcome"],
            registry=registry,
        )
        self.visitor_context_written = batches.labels(outcome="written")
        self.visitor_context_failed = batches.labels(outcome="failed")
        self.visitor_context_rows = Counter(
            "hub_visitor_context_rows", "Visitor contexts written (a visitor's row, once per batch).", registry=registry
        )
        self.visitor_context_dropped = Counter(
            "hub_visitor_context_dropped",
            "Visitors' events dropped unwritten: too many visitors were waiting to be written.",
            registry=registry,
        )
        self.visitor_context_deleted = Counter(
            "hub_visitor_context_deleted",
            "Visitor contexts deleted by this node for being older than HUB_VISITOR_CONTEXT_RETENTION_DAYS.",
            registry=registry,
        )
        self.handoffs_waiting = Gauge(
            "hub_handoffs_waiting",
            "Open conversations waiting for a person, over the whole hub (read from the store at scrape time).",
            registry=registry,
        )

    @classmethod
    def unexposed(cls) -> Metrics:
        """Where parts built outside a node count: one shared registry that no endpoint serves."""
        if cls._unexposed is None:
            cls._unexposed = cls()
        return cls._unexposed
