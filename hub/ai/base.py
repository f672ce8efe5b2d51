"""What every AI provider offers: a cancellable stream of text deltas for one reply.

Cancelling the task that iterates ``stream`` must stop the work at its source (close the upstream
request), which async generators give for free when each ``await`` sits inside a context manager.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass

from hub.plans import Pricebook
from hub.settings import Settings
from hub.store.models import Tenant
from hub.store.personas import Persona, default_system_prompt


class AIError(Exception):
    """The provider could not produce a reply; the message is safe to log, not shown verbatim."""


@dataclass(frozen=True)
class ChatTurn:
    role: str  # visitor | ai | agent | system
    text: str


@dataclass(frozen=True)
class ReplyRequest:
    tenant: Tenant
    history: tuple[ChatTurn, ...]
    pricebook: Pricebook | None = None  # the live published one, for answers about plans and prices
    persona: Persona | None = None  # the tenant's active persona, read when the reply starts

    @property
    def persona_name(self) -> str:
        if self.persona is not None:
            return self.persona.name
        persona = self.tenant.config.get("persona") or {}
        return str(persona.get("name") or "Bob")

    @property
    def system_prompt(self) -> str:
        if self.persona is not None:
            prompt = self.persona.system_prompt
            return f"{prompt}\n\nTone: {self.persona.tone}." if self.persona.tone else prompt
        persona = self.tenant.config.get("persona") or {}
        given = persona.get("systemPrompt")
        return str(given) if given else default_system_prompt(self.persona_name, self.tenant.name)


class AIProvider(ABC):
    name: str
    answers = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def stream(self, request: ReplyRequest) -> AsyncIterator[str]:
        """Yield the reply as text deltas; joined, they are the whole reply."""

    async def health(self) -> dict[str, object]:
        return {"ok": True, "provider": self.name}

    async def aclose(self) -> None:
        return None


class NoProvider(AIProvider):
    """``HUB_AI_PROVIDER=none``: a human-only desk; the AI never answers."""

    name = "none"
    answers = False

    async def stream(self, request: ReplyRequest) -> AsyncIterator[str]:
        raise AIError("no AI provider is configured")
        yield ""  # pragma: no cover - makes this an async generator
