"""Fan-out between hub nodes, picked from a URL: Redis when one is configured, else in-process."""

from __future__ import annotations

from importlib import import_module

from hub.backplane import MemoryBackplane
from hub.broker.base import Broker
from hub.metrics import Metrics

# Registry of URL schemes to "module:Class"; imported lazily so a single node never needs redis.
BACKENDS = {
    "redis": "hub.broker.redis:RedisBroker",
    "rediss": "hub.broker.redis:RedisBroker",
    "unix": "hub.broker.redis:RedisBroker",
    "redis+sentinel": "hub.broker.redis:RedisBroker",
    "rediss+sentinel": "hub.broker.redis:RedisBroker",
}


def broker_from_url(
    url: str | None,
    *,
    prefix: str,
    node_id: str,
    backplane: MemoryBackplane | None = None,
    metrics: Metrics | None = None,
) -> Broker:
    """``url`` None: the in-process broker on ``backplane`` (a new one unless given); ``metrics``: where a Redis
    broker counts its publish lag and dropped publishes (the in-process one has neither)."""
    if url is None:
        from hub.broker.memory import MemoryBroker

        return MemoryBroker(backplane)
    scheme = url.split("://", 1)[0]
    target = BACKENDS.get(scheme)
    if target is None:
        raise ValueError(f"no broker backend for URL scheme {scheme!r}")
    module_name, _, class_name = target.partition(":")
    backend: Broker = getattr(import_module(module_name), class_name)(
        url, prefix=prefix, node_id=node_id, metrics=metrics
    )
    return backend


__all__ = ["BACKENDS", "Broker", "broker_from_url"]
