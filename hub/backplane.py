"""What a Redis server is to the hub, inside one process: channels, short lists, claims and presence.

One node on its own uses it (the embedded default), and so do tests that run several hub apps in one
process. The in-process broker and coordinator are two views of one backplane, as the Redis ones
are two views of one server. ``clock`` gives claim and presence expiry times (monotonic seconds), so
a test can move time forward instead of sleeping through a TTL.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

Deliver = Callable[[str, bytes], None]


@dataclass
class MemoryBackplane:
    subscribers: defaultdict[str, dict[object, Deliver]] = field(default_factory=lambda: defaultdict(dict))
    lists: dict[str, list[bytes]] = field(default_factory=dict)
    claims: dict[str, tuple[str, float]] = field(default_factory=dict)  # key -> (holder, expires at)
    presence: dict[str, dict[str, float]] = field(default_factory=dict)  # key -> member -> expires at
    clock: Callable[[], float] = time.monotonic
