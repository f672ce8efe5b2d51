"""The built-in responder: offline, deterministic, honest.

It answers from what the tenant told it (persona greeting, FAQ entries) plus a few defaults, and
offers a person when it has no answer instead of making one up.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from hub.ai.base import AIProvider, Delta, PersonWanted, ReplyRequest

WORD = re.compile(r"[\w']+", re.UNICODE)


@dataclass(frozen=True)
class FaqEntry:
    keywords: frozenset[str]
    answer: str
    wants_person: bool = False  # answering with it hands the visitor to a person (recorded by the hub)


DEFAULT_FAQ = (
    FaqEntry(
        frozenset({"hi", "hello", "hey", "hej", "cześć", "czesc", "witam", "morning", "evening"}),
        "{greeting}",
    ),
    FaqEntry(
        frozenset({"who", "what", "bot", "ai", "robot", "assistant", "you"}),
        "I'm {persona}, the AI assistant of {business}. I can answer common questions here, and a person from "
        "the team can join this chat at any time.",
    ),
    FaqEntry(
        frozenset(
            {
                "human",
                "person",
                "agent",
                "someone",
                "people",
                "operator",
                "representative",
                "staff",
                "człowiek",
                "człowiekiem",
                "konsultant",
                "konsultantem",
                "osoba",
                "osobą",
                "pracownik",
                "pracownikiem",
            }
        ),
        "Of course. I've let the team at {business} know you'd like to talk to a person; someone will join "
        "this chat as soon as they can. You can keep writing here meanwhile.",
        wants_person=True,
    ),
    FaqEntry(
        frozenset({"thanks", "thank", "thx", "dzięki", "dziękuję", "dziekuje"}),
        "You're welcome! Is there anything else I can help you with?",
    ),
    FaqEntry(
        frozenset({"bye", "goodbye", "cya"}),
        "Goodbye, and thanks for stopping by {business}!",
    ),
)

PRICING_WORDS = frozenset(
    {
        "price", "prices", "pricing", "cost", "costs", "plan", "plans", "pay", "subscription", "credits",
        "seats", "much", "cena", "ceny", "cennik", "koszt", "kosztuje", "plany", "pakiet", "pakiety",
    }
)  # fmt: skip

FALLBACK = (
    "I'm not sure about that, and I'd rather not guess. Would you like me to connect you with a person from "
    '{business}? Just say "human" and someone from the team will join.'
)


class BuiltinResponder(AIProvider):
    name = "builtin"

    def answer(self, request: ReplyRequest) -> tuple[str, bool]:
        """The reply, and whether it hands the visitor to a person."""
        question = next((turn.text for turn in reversed(request.history) if turn.role == "visitor"), "")
        words = {word.lower() for word in WORD.findall(question)}
        persona, greeting = request.persona, request.greeting
        entries = [*_tenant_faq(request), *_pricing_faq(request), *DEFAULT_FAQ]
        best: FaqEntry | None = None
        best_hits = 0
        for entry in entries:
            hits = len(words & entry.keywords)
            if hits > best_hits:
                best, best_hits = entry, hits
        template = best.answer if best is not None else FALLBACK
        text = template.format(greeting=greeting, persona=persona, business=request.business)
        return text, best is not None and best.wants_person

    async def stream(self, request: ReplyRequest) -> AsyncIterator[Delta]:
        delay = self.settings.ai_token_delay_ms / 1000
        text, wants_person = self.answer(request)
        words = text.split(" ")
        for position, word in enumerate(words):
            if delay:
                await asyncio.sleep(delay)
            yield word if position == len(words) - 1 else word + " "
        if wants_person:
            yield PersonWanted("the visitor asked for a person")


def _tenant_faq(request: ReplyRequest) -> list[FaqEntry]:
    entries = []
    for item in request.faq:
        keywords = frozenset(word.lower() for word in WORD.findall(item.question))
        answer = item.answer.replace("{", "{{").replace("}", "}}")
        if keywords and answer:
            entries.append(FaqEntry(keywords, answer))
    return entries


def _pricing_faq(request: ReplyRequest) -> list[FaqEntry]:
    """Bob's own plans and prices, quoted from the live published pricebook (never from memory).

    The request carries plans only on the platform's own site: a shop's visitor asking about
    "shipping costs" means the shop's.
    """
    if not request.plans:
        return []
    parts = []
    for plan in request.plans:
        seats = "unlimited seats" if plan.seats is None else f"up to {plan.seats} seats"
        parts.append(
            f"{plan.name} ${plan.price_usd_month:,}/month with {plan.ai_credits_month:,} AI credits, {seats}, "
            f"{plan.integrations} standard integration{'s' if plan.integrations != 1 else ''} and "
            f"{plan.support} support"
        )
    answer = "Our plans: " + "; ".join(parts) + ". Would you like a person from the team to help you choose?"
    return [FaqEntry(PRICING_WORDS, answer.replace("{", "{{").replace("}", "}}"))]
