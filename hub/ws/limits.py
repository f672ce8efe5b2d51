"""How much one socket may send: its own budget of refused frames.

A socket counts its own refusals itself (``Rate``: a burst of N, then one more every period/N; one
number): the count dies with the socket.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache

from hub.auth.throttle import Rate
from hub.settings import Settings


@dataclass(frozen=True, slots=True)
class SocketLimits:
    refusals: Rate  # frames answered with a refusal; one more closes the socket


@cache
def socket_limits(settings: Settings) -> SocketLimits:
    return SocketLimits(Rate.parse(settings.rate_limit_socket_refusals))


class FrameBudget:
    """One socket's own counts; slots and a float, since every socket holds one."""

    __slots__ = ("_refusals", "limits")

    def __init__(self, limits: SocketLimits) -> None:
        self.limits = limits
        self._refusals = 0.0

    def refused(self) -> bool:
        """Count a refused frame; False once the socket is over its refusals (it is closed then)."""
        self._refusals, wait = self.limits.refusals.take(self._refusals, time.monotonic())
        return not wait
