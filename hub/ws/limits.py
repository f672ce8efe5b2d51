"""How much one socket may send: its own budget of frames, and a visitor's messages in the node's limits.

A socket counts its own frames itself (``Rate``: a burst of N, then one more every period/N; one
number per limit): the counts die with the socket, and a flood is refused before it reaches
anything shared. A visitor's ``message`` frame within its socket's budget is then counted per
conversation and per client address by the node's ``Throttle``, which tells the counters the HTTP
chat paths use (Redis when several nodes run) about the keys that get busy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache

from hub.auth.throttle import ADDRESS, SESSION, Rate, Throttle, retry_in
from hub.protocol import FrameError
from hub.settings import Settings


@dataclass(frozen=True, slots=True)
class SocketLimits:
    frames: Rate  # every frame, of both sockets
    messages: Rate  # visitor ``message`` frames
    refusals: Rate  # frames answered with a refusal; one more closes the socket


@cache
def socket_limits(settings: Settings) -> SocketLimits:
    return SocketLimits(
        Rate.parse(settings.rate_limit_socket_frames),
        Rate.parse(settings.rate_limit_socket),
        Rate.parse(settings.rate_limit_socket_refusals),
    )


def _refuse(rate: str, seconds: int, what: str) -> FrameError:
    return FrameError("rate_limited", f"too many {what} ({rate}); retry in {seconds} s", retry_after=seconds)


class FrameBudget:
    """One socket's own counts; slots and three floats, since every socket holds one."""

    __slots__ = ("_frames", "_messages", "_refusals", "limits")

    def __init__(self, limits: SocketLimits) -> None:
        self.limits = limits
        self._frames = self._messages = self._refusals = 0.0

    def frame(self) -> None:
        """Count any frame; ``rate_limited`` when the socket is over its frame budget."""
        rate = self.limits.frames
        self._frames, wait = rate.take(self._frames, time.monotonic())
        if wait:
            raise _refuse(rate.text, retry_in(wait), "frames on this connection")

    def message(self) -> None:
        rate = self.limits.messages
        self._messages, wait = rate.take(self._messages, time.monotonic())
        if wait:
            raise _refuse(rate.text, retry_in(wait), "messages on this connection")

    def refused(self) -> bool:
        """Count a refused frame; False once the socket is over its refusals (it is closed then)."""
        self._refusals, wait = self.limits.refusals.take(self._refusals, time.monotonic())
        return not wait


async def count_visitor_message(throttle: Throttle, settings: Settings, session_id: str, address: str) -> None:
    """Per conversation, then per client address: in the limits the HTTP chat paths count in too."""
    for rate, scope, key, what in (
        (settings.rate_limit_session, SESSION, session_id, "messages in this conversation"),
        (settings.rate_limit_address, ADDRESS, address, "messages from this address"),
    ):
        wait = await throttle.over_limit_here_first(rate, scope, key)
        if wait is not None:
            raise _refuse(rate, wait, what)
