"""What the visitor reads when the chat itself speaks, written in the visitor's language.

A system message is stored as its text: the HTTP paths, transcripts, emails and Mission Control show it as
stored. So it is written once, when it happens, in the language the visitor is answered in (their questions,
else the widget's language): a Polish visitor never reads an English line between Polish replies. The English
texts are the catalog's msgids (``hub/locale``); ``N_`` only marks them for ``pybabel extract``.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.appearance import appearance_of
from hub.i18n import DEFAULT_LANGUAGE, LANGUAGES, translations
from hub.knowledge.language import detect_language
from hub.store.models import Tenant
from hub.store.transcript import recent_messages

RECENT = 20  # the visitor lines that decide the language of a system message


def N_(message: str) -> str:  # gettext's own name for "translated later"
    return message


ASKED = N_("A person from the team has been asked to join this chat. You can keep writing here meanwhile.")
AGENT_LEFT = N_(
    "%(name)s is no longer available. Another person from the team has been asked to join this chat; you can "
    "keep writing here meanwhile."
)
JOINED = N_("%(name)s joined the chat")
HANDED_BACK = N_("%(name)s handed the chat back to %(assistant)s")
CLOSED = N_("%(name)s closed the conversation")
CREDITS_EXHAUSTED = N_(
    "Our AI assistant is not available right now, so a person from the team will answer you here. Please stay with us."
)
AI_UNAVAILABLE = N_(
    'Sorry, I can\'t answer right now. Please try again in a moment, or say "human" and a person from the team '
    "will take over."
)


def say(language: str, message: str, **params: str) -> str:
    """``message`` (one of the texts above) in ``language``, its ``%(name)s`` filled."""
    text = translations(language if language in LANGUAGES else DEFAULT_LANGUAGE).gettext(message)
    return text % params if params else text


def widget_language(tenant: Tenant) -> str:
    """The tenant's widget language (en, pl), or "auto" when the visitor's browser decides."""
    return appearance_of(tenant).language


def visitor_language(tenant: Tenant, questions: list[str]) -> str:
    """The language the visitor is answered in: the one their questions are written in, else the widget's."""
    return detect_language(questions, widget_language(tenant))


async def session_language(engine: AsyncEngine, tenant: Tenant, session_id: str) -> str:
    """The visitor's language in one conversation (a read of its last lines: for rare events, never per token)."""
    recent = await recent_messages(engine, tenant.id, session_id, RECENT)
    return visitor_language(tenant, [message.text for message in recent if message.role == "visitor"])
