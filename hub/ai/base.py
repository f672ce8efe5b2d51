"""What every AI provider offers: a cancellable stream of text deltas for one reply.

Cancelling the task that iterates ``stream`` must stop the work at its source (close the upstream
request), which async generators give for free when each ``await`` sits inside a context manager.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass

from hub.plans import Plan
from hub.settings import Settings


class AIError(Exception):
    """The provider could not produce a reply; the message is safe to log, not shown verbatim."""


@dataclass(frozen=True)
class ChatTurn:
    role: str  # visitor | ai | agent | system
    text: str


@dataclass(frozen=True)
class FaqItem:
    question: str
    answer: str


@dataclass(frozen=True)
class Passage:
    """A piece of the tenant's knowledge found for the visitor's question (``hub.knowledge``)."""

    title: str
    body: str  # Markdown
    url: str | None = None
    relevance: float = 1.0  # the share of the question's words the entry holds, 0 to 1


@dataclass(frozen=True)
class ReplyRequest:
    """One reply to write, as plain values: providers know no store, no accounts and no HTTP."""

    business: str  # the tenant's name, as its visitors know it
    persona: str  # the name the AI speaks as
    system_prompt: str  # the persona's instructions, its tone included
    greeting: str  # how it greets a visitor who only says hello
    history: tuple[ChatTurn, ...]
    faq: tuple[FaqItem, ...] = ()  # the tenant's own questions and answers
    plans: tuple[Plan, ...] = ()  # the live published plans, on the platform's own site only (else none)
    passages: tuple[Passage, ...] = ()  # the tenant's knowledge found for the visitor's question, best first
    language: str = "en"  # the visitor's language (en, pl): hub.knowledge.language
    greeting_language: str = "en"  # the language ``greeting`` is written in
    office_hours: str | None = None  # the tenant's office hours setting in one line, when it has one


@dataclass(frozen=True)
class PersonWanted:
    """Yielded by a provider's stream: the visitor should talk to a person (a model's tool call, or the
    visitor's own words); ``note`` says why, in the provider's words."""

    note: str | None = None


@dataclass(frozen=True)
class Cited:
    """Yielded by a provider's stream after the text: the passages the reply used, stored with it as its
    sources and shown as links under it."""

    passages: tuple[Passage, ...]


Delta = str | PersonWanted | Cited


class AIProvider(ABC):
    name: str
    answers = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def stream(self, request: ReplyRequest) -> AsyncIterator[Delta]:
        """Yield the reply as text deltas (joined, they are the whole reply), and ``PersonWanted`` when the
        visitor should be handed to a person (the hub records that; the text may be empty then)."""

    async def health(self) -> dict[str, object]:
        return {"ok": True, "provider": self.name}

    async def aclose(self) -> None:
        return None


class NoProvider(AIProvider):
    """``HUB_AI_PROVIDER=none``: a human-only desk; the AI never answers."""

    name = "none"
    answers = False

    async def stream(self, request: ReplyRequest) -> AsyncIterator[Delta]:
        raise AIError("no AI provider is configured")
        yield ""  # pragma: no cover - makes this an async generator
