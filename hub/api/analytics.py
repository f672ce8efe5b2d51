"""Analytics: ``GET /api/metrics/business`` (a tenant's own) and ``GET /api/analytics/overview``
(platform admins: all tenants, and each tenant's share)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse, read_query
from hub.api.models import ManagedQuery
from hub.api.tenancy import managed_tenant
from hub.auth.permissions import USERS_MANAGE
from hub.auth.request import require_principal
from hub.errors import Forbidden
from hub.node import Services
from hub.plans import PlanId
from hub.store.analytics import MAX_DAYS, conversation_metrics

Days = Annotated[int, Meta(ge=1, le=MAX_DAYS, description="The window: the last this many days.")]


class DaysQuery(msgspec.Struct):
    days: Days = 30


class MetricsQuery(ManagedQuery):
    days: Days = 30


class Day(msgspec.Struct):
    date: Annotated[str, Meta(extra_json_schema={"format": "date"})]
    conversations: int


class HandoffReasons(msgspec.Struct, kw_only=True):
    visitor: Annotated[int, Meta(description="The visitor asked (Talk to a person, or the HTTP field).")]
    ai: Annotated[int, Meta(description="The AI heard a request for a person, or the model asked for one.")]
    credits: Annotated[int, Meta(description="The tenant's AI credits ran out.")]
    agent_left: Annotated[
        int, Meta(description="The agent who had taken the conversation over was deactivated: back to the queue.")
    ]


class HandoffMetrics(msgspec.Struct, kw_only=True):
    """Requests for a person made in the window, and how they ended."""

    requested: int
    by_reason: HandoffReasons
    taken: Annotated[int, Meta(description="An agent took the conversation over.")]
    missed: Annotated[int, Meta(description="The conversation closed before anyone came (the visitor left).")]
    waiting: Annotated[int, Meta(description="Still waiting for a person.")]
    outside_hours: Annotated[int, Meta(description="Requested outside the tenant's office hours.")]
    median_wait_s: Annotated[
        float | None, Meta(description="From the request to the takeover, of those taken; null when none was.")
    ]
    p90_wait_s: Annotated[float | None, Meta(description="The 90th percentile (nearest rank) of the same waits.")]


class PersonaFeedback(msgspec.Struct, kw_only=True):
    persona: Annotated[
        str | None, Meta(description="The name the AI spoke as; null for replies made before it was kept.")
    ]
    rated: Annotated[int, Meta(description="Its replies the visitors rated.")]
    helpful: Annotated[int, Meta(description="Of those, rated helpful.")]
    helpful_share: float


class UnhelpfulSource(msgspec.Struct, kw_only=True):
    title: Annotated[str, Meta(description="The knowledge entry's title.")]
    unhelpful: Annotated[int, Meta(description="Replies answered from it that visitors rated not helpful.")]


class FeedbackMetrics(msgspec.Struct, kw_only=True):
    """The visitors' ratings made in the window: of AI replies (helpful or not) and of conversations (1 to 5)."""

    rated_replies: int
    helpful_share: Annotated[float | None, Meta(description="Of the rated replies; null when none was rated.")]
    personas: Annotated[list[PersonaFeedback], Meta(description="Per persona, the most rated first.")]
    unhelpful_sources: Annotated[
        list[UnhelpfulSource],
        Meta(description="The knowledge entries most often behind a reply rated not helpful (at most 10)."),
    ]
    session_ratings: Annotated[int, Meta(description="Conversations rated.")]
    average_session_rating: Annotated[float | None, Meta(description="Their average stars; null when none.")]


class ConversationMetrics(msgspec.Struct, kw_only=True):
    """Conversations of the window: per day, answered by the AI alone or taken over, and the medians."""

    days: int
    per_day: Annotated[list[Day], Meta(description="Oldest first, one entry per day of the window.")]
    conversations: int
    ai_only: int
    taken_over: int
    ai_only_share: Annotated[float | None, Meta(description="null without conversations.")]
    median_first_token_ms: Annotated[
        int | None, Meta(description="From the visitor's message to the AI's first token.")
    ]
    median_first_agent_reply_s: Annotated[
        float | None, Meta(description="From the visitor's message to the first agent reply.")
    ]
    handoffs: HandoffMetrics
    feedback: FeedbackMetrics


class Credits(msgspec.Struct, kw_only=True):
    """AI credits this month (one credit = one AI reply)."""

    plan: PlanId
    used: int
    included: int


class TenantCredits(Credits, kw_only=True):
    business_id: str
    name: str


class BusinessMetrics(ConversationMetrics, kw_only=True):
    business_id: str
    credits: Credits


class Overview(ConversationMetrics, kw_only=True):
    tenants: Annotated[int, Meta(description="How many tenants there are.")]
    credits: list[TenantCredits]


async def business_metrics(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, USERS_MANAGE)
    days = read_query(request, MetricsQuery).days
    metrics = await conversation_metrics(services.engine, [tenant.id], days)
    credits = await services.accounts.credits(tenant)
    fields = {"business_id": tenant.business_id, **metrics, "credits": credits}
    return StructResponse(msgspec.convert(fields, BusinessMetrics, from_attributes=True))


async def overview(request: Request) -> Response:
    services: Services = request.state.services
    principal = await require_principal(request, services.engine)
    if not principal.is_platform_admin:
        raise Forbidden("only platform admins see every tenant")
    days = read_query(request, DaysQuery).days
    every = await services.accounts.credits_of_every_tenant()
    metrics = await conversation_metrics(services.engine, None, days)
    per_tenant = [
        {"business_id": tenant.business_id, "name": tenant.name, **dataclasses.asdict(credits)}
        for tenant, credits in every
    ]
    fields = {**metrics, "tenants": len(every), "credits": per_tenant}
    return StructResponse(msgspec.convert(fields, Overview))
