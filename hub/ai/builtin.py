"""The built-in responder: offline, deterministic, honest.

It answers from what the tenant told it: its knowledge (the best passage the hub found for the
question), its FAQ, its persona's greeting, and on the platform's own site the published pricebook.
It answers in the visitor's language (English or Polish, ``ReplyRequest.language``). A greeting,
thanks or goodbye is answered only when the message holds nothing else: "Hi! Do you repair e-bikes?"
is a question. When nothing answers the question it offers a person instead of making something up,
and a "yes" to that offer (or asking for a person at any time) hands the visitor to the team.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from hub.ai.base import AIProvider, ChatTurn, Cited, Delta, Passage, PersonWanted, ReplyRequest
from hub.i18n import translations
from hub.knowledge.text import KNOWN, STOPWORDS, fold, stem

WORD = re.compile(r"[\w']+", re.UNICODE)
ANSWER_CHARS = 700  # the built-in quotes at most this much of an entry (the link has the rest)

GREETINGS = frozenset({"hi", "hello", "hey", "hej", "hejka", "czesc", "witam", "witaj", "morning", "evening", "dzien",
                       "dobry", "good", "afternoon", "siema", "yo"})  # fmt: skip
THANKS = frozenset({"thanks", "thank", "thx", "dzieki", "dziekuje", "dziekujemy", "ok", "okay", "great", "super"})
GOODBYES = frozenset({"bye", "goodbye", "cya", "pa", "narazie", "dowidzenia", "widzenia"})
WHO = frozenset({"who", "bot", "ai", "robot", "assistant", "kim", "jestes", "czym"})
PERSON_WORDS = frozenset(
    {
        "human", "person", "agent", "someone", "people", "operator", "representative", "staff",
        "czlowiek", "czlowiekiem", "konsultant", "konsultantem", "konsultanta", "osoba", "osoby",
        "osobe", "pracownik", "pracownikiem", "pracownika",
    }
)  # fmt: skip
YES = frozenset({"yes", "yeah", "yep", "sure", "please", "ok", "okay", "tak", "poprosze", "prosze", "chetnie"})
PRICING_WORDS = frozenset(
    {
        "price", "prices", "pricing", "cost", "costs", "plan", "plans", "pay", "subscription", "credits",
        "seats", "much", "cena", "ceny", "cennik", "koszt", "kosztuje", "plany", "pakiet", "pakiety",
    }
)  # fmt: skip
SMALL_TALK = GREETINGS | THANKS | GOODBYES | WHO | YES | {"you", "are", "there", "tam", "jest", "ktos"}


@dataclass(frozen=True)
class Reply:
    text: str
    wants_person: bool = False
    sources: tuple[Passage, ...] = ()  # the knowledge entries the text quotes


class BuiltinResponder(AIProvider):
    name = "builtin"

    def answer(self, request: ReplyRequest) -> tuple[str, bool]:
        """The reply, and whether it hands the visitor to a person."""
        reply = compose(request)
        return reply.text, reply.wants_person

    async def stream(self, request: ReplyRequest) -> AsyncIterator[Delta]:
        delay = self.settings.ai_token_delay_ms / 1000
        reply = compose(request)
        text, wants_person = reply.text, reply.wants_person
        words = text.split(" ")
        for position, word in enumerate(words):
            if delay:
                await asyncio.sleep(delay)
            yield word if position == len(words) - 1 else word + " "
        if reply.sources:
            yield Cited(reply.sources)
        if wants_person:
            # The note Mission Control shows on the Waiting card: what the visitor said, in their own words.
            yield PersonWanted(_last(request.history, "visitor"))


def compose(request: ReplyRequest) -> Reply:
    gettext = translations(request.language if request.language in ("en", "pl") else "en").gettext
    question = _last(request.history, "visitor")
    words = {fold(word) for word in WORD.findall(question.lower())}
    values = {"persona": request.persona, "business": request.business}
    if words & PERSON_WORDS or (words & YES and _offered_person(request.history)):
        return Reply(
            gettext(
                "Of course. I've let the team at %(business)s know you'd like to talk to a person; someone will "
                "join this chat as soon as they can. You can keep writing here meanwhile."
            )
            % values,
            wants_person=True,
        )
    content = {word for word in words - STOPWORDS - SMALL_TALK if len(word) > 1 and not word.isdigit()}
    parts: list[str] = []
    passage = _best_passage(request)
    if passage is not None:
        parts.append(_quote(passage))
    if request.plans and words & PRICING_WORDS:
        parts.append(_pricebook(request))
    if not parts and (faq := _faq_answer(request, words)) is not None:
        parts.append(faq)
    if parts:
        return Reply("\n\n".join(parts), sources=(passage,) if passage is not None else ())
    if content - PRICING_WORDS or (content and not request.plans):
        return Reply(
            gettext(
                "I'm not sure about that, and I'd rather not guess. Would you like me to connect you with a person "
                'from %(business)s? Just say "human" and someone from the team will join.'
            )
            % values
        )
    if words & WHO:
        return Reply(
            gettext(
                "I'm %(persona)s, the AI assistant of %(business)s. I can answer common questions here, and a person "
                "from the team can join this chat at any time."
            )
            % values
        )
    if words & THANKS:
        return Reply(gettext("You're welcome! Is there anything else I can help you with?"))
    if words & GOODBYES and not words & GREETINGS:
        return Reply(gettext("Goodbye, and thanks for stopping by %(business)s!") % values)
    return Reply(_greeting(request, gettext))


def _last(history: tuple[ChatTurn, ...], role: str) -> str:
    return next((turn.text for turn in reversed(history) if turn.role == role), "")


def _offered_person(history: tuple[ChatTurn, ...]) -> bool:
    """The AI's previous reply offered a person (so "yes" accepts it)."""
    previous = _last(history[:-1], "ai") if history and history[-1].role == "visitor" else ""
    return '"human"' in previous or '"człowiek"' in previous


def _best_passage(request: ReplyRequest) -> Passage | None:
    best = request.passages[0] if request.passages else None
    return best if best is not None and best.relevance >= KNOWN else None


def _quote(passage: Passage) -> str:
    """The entry's text (its link comes with the reply's sources, shown under it)."""
    text = _plain(passage.body)
    if len(text) > ANSWER_CHARS:
        text = text[:ANSWER_CHARS].rsplit(" ", 1)[0] + "…"
    return text


MARKDOWN = re.compile(r"(^#{1,6}\s+|\*\*|__|`|^\s*[-*+]\s+)", re.MULTILINE)
LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def _plain(markdown: str) -> str:
    """An entry's Markdown as the chat shows text: links as "text (url)", no emphasis marks."""
    text = LINK.sub(r"\1 (\2)", markdown)
    return MARKDOWN.sub("", text).strip()


def _faq_answer(request: ReplyRequest, words: set[str]) -> str | None:
    """The tenant's keyword FAQ (its config): the entry sharing most words (as stems) with the question."""
    asked = {stem(word) for word in words - STOPWORDS - SMALL_TALK}
    best, best_hits = None, 0
    for item in request.faq:
        keywords = {stem(fold(word)) for word in WORD.findall(item.question.lower())} - {stem(w) for w in STOPWORDS}
        hits = len(asked & keywords)
        if hits > best_hits and item.answer:
            best, best_hits = item.answer, hits
    return best


def _greeting(request: ReplyRequest, gettext: Callable[[str], str]) -> str:
    if request.greeting_language == request.language:
        return request.greeting
    return gettext("Hi! I'm %(persona)s, the assistant of %(business)s. How can I help you today?") % {
        "persona": request.persona,
        "business": request.business,
    }


def _pricebook(request: ReplyRequest) -> str:
    """Bob's own plans and prices, quoted from the live published pricebook (never from memory).

    The request carries plans only on the platform's own site: a shop's visitor asking about
    "shipping costs" means the shop's.
    """
    parts = []
    for plan in request.plans:
        seats = "unlimited seats" if plan.seats is None else f"up to {plan.seats} seats"
        parts.append(
            f"{plan.name} ${plan.price_usd_month:,}/month with {plan.ai_credits_month:,} AI credits, {seats}, "
            f"{plan.integrations} standard integration{'s' if plan.integrations != 1 else ''} and "
            f"{plan.support} support"
        )
    return "Our plans: " + "; ".join(parts) + ". Would you like a person from the team to help you choose?"
