"""What a tenant decides about its own front office: one typed record, its limits stated once.

Kept in the tenant's ``config`` (JSON) under ``settings``; read by the chat core (the AI while a visitor
waits for a person) and changed through ``GET``/``PATCH /api/settings``.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from hub.office_hours import OfficeHours
from hub.store.models import Tenant

AiWhileWaiting = Annotated[
    bool, Meta(description="While a visitor waits for a person, the AI keeps answering (true) or goes quiet (false).")
]
EscalateAfter = Annotated[
    int, Meta(ge=30, le=3600, description="A visitor still waiting after this many seconds alerts the team again.")
]

RoundRobin = Annotated[
    bool,
    Meta(
        description="A conversation that starts waiting for a person is assigned to the staff member online in "
        "Mission Control with the fewest open conversations assigned (ties: whose last assignment is oldest). "
        "With nobody online it stays unassigned in the Waiting queue."
    ),
]

HoursSetting = Annotated[
    OfficeHours | None,
    Meta(
        description="When a person of the team is meant to be there: opening spans per weekday in an IANA time "
        "zone. Outside them (or with nobody in Mission Control) visitors who ask for a person are told when one "
        "will next be there and may leave an email address. null: no hours (a person may come at any time)."
    ),
]


class TenantSettings(msgspec.Struct, kw_only=True):
    """A tenant's settings; every field has a default, so a tenant that set nothing has them all."""

    ai_while_waiting: AiWhileWaiting = True
    escalate_after_s: EscalateAfter = 120
    office_hours: HoursSetting = None
    round_robin: RoundRobin = False


class SettingsChange(msgspec.Struct, kw_only=True):
    """The settings to change; the others stay as they are."""

    ai_while_waiting: AiWhileWaiting | UnsetType = UNSET
    escalate_after_s: EscalateAfter | UnsetType = UNSET
    office_hours: HoursSetting | UnsetType = UNSET
    round_robin: RoundRobin | UnsetType = UNSET

    def applied_to(self, settings: TenantSettings) -> TenantSettings:
        given = {name: value for name in self.__struct_fields__ if (value := getattr(self, name)) is not UNSET}
        return msgspec.structs.replace(settings, **given)


def settings_of(tenant: Tenant) -> TenantSettings:
    stored: Any = tenant.config.get("settings") or {}
    try:
        return msgspec.convert(stored, TenantSettings)
    except msgspec.ValidationError:
        return TenantSettings()  # written by an older hub with other limits: the defaults are safe
