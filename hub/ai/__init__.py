"""AI providers behind one interface that yields text deltas, picked by name."""

from __future__ import annotations

from importlib import import_module

from hub.ai.base import AIError, AIProvider, ChatTurn, ReplyRequest
from hub.settings import Settings

PROVIDERS = {
    "builtin": "hub.ai.builtin:BuiltinResponder",
    "openai": "hub.ai.openai:OpenAIProvider",
    "none": "hub.ai.base:NoProvider",
}


def provider_from_settings(settings: Settings) -> AIProvider:
    module_name, _, class_name = PROVIDERS[settings.ai_provider].partition(":")
    provider_class: type[AIProvider] = getattr(import_module(module_name), class_name)
    return provider_class(settings)


__all__ = ["PROVIDERS", "AIError", "AIProvider", "ChatTurn", "ReplyRequest", "provider_from_settings"]
