"""Plans and the pricebook as plain typed records, the one definition every part reads.

A leaf module: the store reads and writes them, the accounts service and the API answer from them,
and the AI providers quote them, without any of those importing each other. A ``Plan`` is also the
request model of a pricebook draft, so its limits are written here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal, get_args

import msgspec

PlanId = Literal["starter", "pro", "enterprise"]
PLAN_IDS: tuple[str, ...] = get_args(PlanId)
SupportLevel = Literal["standard", "priority", "dedicated"]
MAX_AMOUNT = 100_000_000

Amount = Annotated[int, msgspec.Meta(ge=0, le=MAX_AMOUNT)]


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """A plan of a pricebook version: its price and what it includes."""

    id: PlanId
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=60, pattern=r"\S", description="e.g. Starter")]
    price_usd_month: Annotated[Amount, msgspec.Meta(description="Price in US dollars a month.")]
    ai_credits_month: Annotated[
        Amount, msgspec.Meta(description="AI credits included a month (one credit = one AI reply).")
    ]
    seats: Annotated[
        Annotated[int, msgspec.Meta(ge=1, le=MAX_AMOUNT)] | None,
        msgspec.Meta(description="Staff seats (agents, owners, admins); null = unlimited."),
    ] = None
    integrations: Annotated[Amount, msgspec.Meta(description="Standard integrations (webhook endpoints) included.")]
    support: SupportLevel


@dataclass(frozen=True)
class Pricebook:
    """One version of the pricebook; a version never changes once published."""

    version: int
    label: str
    plans: tuple[Plan, ...]
    created_at: datetime
    published_at: datetime | None

    @property
    def published(self) -> bool:
        return self.published_at is not None

    def plan(self, plan_id: str) -> Plan | None:
        return next((plan for plan in self.plans if plan.id == plan_id), None)
