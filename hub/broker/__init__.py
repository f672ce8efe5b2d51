"""Fan-out between hub nodes, picked from a URL (``memory://`` or ``redis://``)."""

from __future__ import annotations

from importlib import import_module

from hub.broker.base import Broker

# Registry of URL schemes to "module:Class"; imported lazily so a single node never needs redis.
BACKENDS = {
    "memory": "hub.broker.memory:MemoryBroker",
    "redis": "hub.broker.redis:RedisBroker",
    "rediss": "hub.broker.redis:RedisBroker",
    "unix": "hub.broker.redis:RedisBroker",
}


def broker_from_url(url: str | None, *, prefix: str, node_id: str) -> Broker:
    scheme = (url or "memory://").split("://", 1)[0]
    target = BACKENDS.get(scheme)
    if target is None:
        raise ValueError(f"no broker backend for URL scheme {scheme!r}")
    module_name, _, class_name = target.partition(":")
    backend_class: type[Broker] = getattr(import_module(module_name), class_name)
    return backend_class(url or "memory://", prefix=prefix, node_id=node_id)


__all__ = ["BACKENDS", "Broker", "broker_from_url"]
