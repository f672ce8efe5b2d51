"""What a visitor who asks for a person is told, truthfully: is anyone there, how long it usually takes,
and if nobody is there, when a person will next be (office hours) and whether they may leave an email.

The expected wait is the tenant's own median time to first agent reply (``hub.store.analytics``) over the
last 30 days, said only when at least ``MIN_SAMPLES`` conversations measured it; it is cached per tenant
for ``WAIT_CACHE_S`` (single-flight), so a burst of visitors costs one query, and no frame costs any.
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from async_lru import alru_cache
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.chat.presence import Presence
from hub.i18n import DEFAULT_LANGUAGE, supported
from hub.office_hours import Clock, is_open, next_opening, utc_now, valid_zone, when_text
from hub.protocol import AvailabilityFrame
from hub.store.analytics import first_agent_reply_times
from hub.store.models import Tenant
from hub.tenant_settings import settings_of

MIN_SAMPLES = 5
WAIT_WINDOW_DAYS = 30
WAIT_CACHE_S = 600.0


@dataclass(frozen=True)
class PersonStatus:
    open_now: bool | None  # None: the tenant set no office hours
    agents_online: bool
    next_open: datetime | None  # outside office hours: the next opening
    expected_wait_s: int | None  # someone is there and enough replies were measured
    email_offered: bool

    @property
    def someone_there(self) -> bool:
        return self.agents_online and self.open_now is not False


class Availability:
    def __init__(
        self,
        engine: AsyncEngine,
        presence: Presence,
        tenants: Callable[[str], Awaitable[Tenant | None]],
        *,
        mail: bool,
        clock: Clock = utc_now,
    ) -> None:
        self.engine = engine
        self.presence = presence
        self.tenants = tenants
        self.mail = mail  # an email can be sent at all (SMTP is set up): only then is the offer made
        self.clock = clock
        self._waits = alru_cache(maxsize=10_000, ttl=WAIT_CACHE_S)(self._median_wait)

    async def _median_wait(self, tenant_id: str) -> int | None:
        times = await first_agent_reply_times(self.engine, tenant_id, WAIT_WINDOW_DAYS)
        if len(times) < MIN_SAMPLES:
            return None
        return round(statistics.median(times))

    async def expected_wait_s(self, tenant_id: str) -> int | None:
        return await self._waits(tenant_id)

    def outside_hours(self, tenant: Tenant) -> bool | None:
        """None when the tenant set no office hours."""
        hours = settings_of(tenant).office_hours
        return None if hours is None else not is_open(hours, self.clock())

    async def outside_hours_of(self, tenant_id: str) -> bool | None:
        tenant = await self.tenants(tenant_id)
        return None if tenant is None else self.outside_hours(tenant)

    async def status(self, tenant: Tenant) -> PersonStatus:
        hours = settings_of(tenant).office_hours
        now = self.clock()
        open_now = None if hours is None else is_open(hours, now)
        agents = await self.presence.agents_online(tenant.id)
        someone = agents and open_now is not False
        return PersonStatus(
            open_now=open_now,
            agents_online=agents,
            next_open=next_opening(hours, now) if hours is not None and open_now is False else None,
            expected_wait_s=await self.expected_wait_s(tenant.id) if someone else None,
            email_offered=self.mail and not someone,
        )


def availability_frame(
    status: PersonStatus, tenant: Tenant, language: str | None, time_zone: str | None, email: str | None
) -> AvailabilityFrame:
    """The frame for one visitor: the next opening written in their language and shown in their time zone
    (the tenant's own zone when the visitor's is unknown or not an IANA name)."""
    text = None
    if status.next_open is not None:
        hours = settings_of(tenant).office_hours
        zone = time_zone if time_zone and valid_zone(time_zone) else hours.time_zone if hours else None
        text = when_text(status.next_open, supported(language) or DEFAULT_LANGUAGE, zone)
    return AvailabilityFrame(
        agents_online=status.agents_online,
        email_offered=status.email_offered,
        open=status.open_now,
        next_open=status.next_open.isoformat().replace("+00:00", "Z") if status.next_open else None,
        next_open_text=text,
        expected_wait_s=status.expected_wait_s,
        email=email,
    )
