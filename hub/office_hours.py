"""A tenant's office hours: opening spans per weekday in the tenant's own IANA time zone.

Pure functions of a moment in time: the chat core passes its clock's ``now`` (tests pass a fixed one),
so nothing here reads the wall clock. A local time that a daylight-saving change skips or repeats is
taken as zoneinfo takes it (``fold=0``): an opening at 02:30 on a spring-forward night opens at 03:30.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from typing import Annotated
from zoneinfo import ZoneInfo, available_timezones

import msgspec
from babel.dates import format_datetime, format_time
from msgspec import Meta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_SPANS = 4

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


ClockTime = Annotated[
    str,
    Meta(
        pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", description="Local time, HH:MM (24-hour; 24:00 ends a day)"
    ),
]
TimeZoneName = Annotated[
    str, Meta(min_length=1, max_length=64, description="IANA time zone of the hours, e.g. Europe/Warsaw")
]


@cache
def zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def valid_zone(name: str) -> bool:
    return name in zone_names()


def _minutes(clock_time: str) -> int:
    hours, _, minutes = clock_time.partition(":")
    return int(hours) * 60 + int(minutes)


class Span(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Open from ``opens`` until ``closes`` (local time, same day)."""

    opens: ClockTime
    closes: ClockTime

    def __post_init__(self) -> None:
        if _minutes(self.closes) <= _minutes(self.opens):
            raise ValueError(f"closes ({self.closes}) must be later than opens ({self.opens})")


DaySpans = Annotated[list[Span], Meta(max_length=MAX_SPANS, description="Opening spans of the day; [] = closed")]


class OfficeHours(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """When a person of the team is meant to be there. A day left out (or ``[]``) is closed."""

    time_zone: TimeZoneName
    mon: DaySpans = msgspec.field(default_factory=list)
    tue: DaySpans = msgspec.field(default_factory=list)
    wed: DaySpans = msgspec.field(default_factory=list)
    thu: DaySpans = msgspec.field(default_factory=list)
    fri: DaySpans = msgspec.field(default_factory=list)
    sat: DaySpans = msgspec.field(default_factory=list)
    sun: DaySpans = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        if not valid_zone(self.time_zone):
            raise ValueError(f"time_zone {self.time_zone[:64]!r} is not an IANA time zone (e.g. Europe/Warsaw)")
        for day in DAYS:
            spans = sorted(self.spans(day), key=lambda span: _minutes(span.opens))
            for earlier, later in pairwise(spans):
                if _minutes(later.opens) < _minutes(earlier.closes):
                    raise ValueError(f"{day}: {earlier.opens}-{earlier.closes} overlaps {later.opens}-{later.closes}")

    def spans(self, day: str) -> list[Span]:
        spans: list[Span] = getattr(self, day)
        return spans

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


def hours_text(hours: OfficeHours) -> str:
    """The week in one line for the AI's prompt: "Mon 09:00-17:00, …, Sun closed (Europe/Warsaw)"."""
    days = []
    for day in DAYS:
        spans = sorted(hours.spans(day), key=lambda span: _minutes(span.opens))
        opening = ", ".join(f"{span.opens}-{span.closes}" for span in spans) or "closed"
        days.append(f"{day.capitalize()} {opening}")
    return f"{'; '.join(days)} ({hours.time_zone})"


def is_open(hours: OfficeHours, now: datetime) -> bool:
    local = now.astimezone(hours.zone)
    minute = local.hour * 60 + local.minute
    return any(_minutes(s.opens) <= minute < _minutes(s.closes) for s in hours.spans(DAYS[local.weekday()]))


def _at(day: date, clock_time: str, zone: ZoneInfo) -> datetime:
    minutes = _minutes(clock_time)
    local = datetime.combine(day, time(0), tzinfo=zone) + timedelta(minutes=minutes)
    # A wall time in a daylight-saving gap does not exist: the round trip through UTC moves it past the gap.
    return local.astimezone(UTC).astimezone(zone)


def next_opening(hours: OfficeHours, now: datetime) -> datetime | None:
    """The first opening strictly after ``now`` (in UTC), or None when no day has hours."""
    zone = hours.zone
    today = now.astimezone(zone).date()
    for offset in range(8):
        day = today + timedelta(days=offset)
        for span in sorted(hours.spans(DAYS[day.weekday()]), key=lambda s: _minutes(s.opens)):
            opens = _at(day, span.opens, zone)
            if opens > now:
                return opens.astimezone(UTC)
    return None


def when_text(moment: datetime, language: str, time_zone: str | None) -> str:
    """ "Tuesday 9:00 AM" ("wtorek 09:00"): the weekday and the short time of the visitor's language (CLDR's:
    12-hour in English, 24-hour in Polish) in the visitor's time zone (UTC when unknown)."""
    zone = ZoneInfo(time_zone) if time_zone and valid_zone(time_zone) else ZoneInfo("UTC")
    day = format_datetime(moment, "EEEE", tzinfo=zone, locale=language)
    return f"{day} {format_time(moment, 'short', tzinfo=zone, locale=language)}".replace("\u202f", " ")
