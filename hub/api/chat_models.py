"""The request and answer bodies of the chat paths (``hub.api.chat``)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from hub.api.models import BusinessId, ManagedQuery, PathId
from hub.auth.permissions import PLATFORM_BUSINESS_ID
from hub.origins import PAGE_URL_CHARS
from hub.protocol import COMMENT_CHARS, PAGE_TITLE_CHARS, AvailabilityFrame, Message, VisitorContext
from hub.settings import Settings
from hub.store.models import MAX_SEQ

# The limit is a setting (HUB_MAX_MESSAGE_CHARS), checked after decoding: the schema shows its default.
MessageText = Annotated[
    str,
    Meta(
        min_length=1,
        pattern=r"\S",
        description="The text; not blank. Longer than `HUB_MAX_MESSAGE_CHARS` "
        f"(default {Settings.max_message_chars}) is a 413.",
        extra_json_schema={"maxLength": Settings.max_message_chars},
    ),
]
SessionName = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=64,
        description="A name the client chooses for its conversation, e.g. `session_123`. The hub binds it to "
        "the caller (visitor token or cookie) and the tenant, so guessing another visitor's name opens a new, "
        "empty conversation.",
    ),
]
HANDOFF = (
    "Also ask for a person (the visitor's own request): the conversation waits for one, the team is told, "
    "and the visitor gets a system message; the AI keeps answering or goes quiet as the tenant chose."
)
VisitorEmail = Annotated[
    str,
    Meta(
        min_length=3,
        max_length=254,
        description="Also leave an email address for this conversation (as the visitor socket's `email` frame): "
        "agent replies written while the visitor is away are emailed there, with a link back to the "
        "conversation. Not an address: 400 `invalid_email`; a hub without SMTP: 409 `email_unavailable`.",
    ),
]
VisitorLanguage = Annotated[
    str,
    Meta(
        max_length=35,
        description="The visitor's language (BCP 47, e.g. `pl-PL`): the emails' language, and the widget's "
        "language the team sees beside the conversation.",
    ),
]
VisitorTimeZone = Annotated[
    str,
    Meta(
        max_length=64,
        description="The visitor's IANA time zone (e.g. `Europe/Warsaw`): while they wait for a person, "
        "`availability.next_open_text` is shown in it; the team sees it beside the conversation.",
    ),
]


class VisitorPage(msgspec.Struct):
    """The page the visitor is on, as the visitor socket's `page` frame: shown to the team beside the
    conversation. Without it the hub reads the `Referer` header (when it is a page of the request's Origin)."""

    url: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=PAGE_URL_CHARS,
            description="The page's address: an http or https URL of the request's Origin, else 400 `invalid_url`.",
        ),
    ]
    title: Annotated[str, Meta(max_length=PAGE_TITLE_CHARS, description="The page's title.")] | None = None


Mode = Annotated[Literal["ai", "human"], Meta(description="ai, or human once an agent took over.")]
OtherTenant = Annotated[BusinessId, Meta(description="Another tenant's business_id: platform admins only.")]


class ChatRequest(msgspec.Struct):
    """A visitor's message. Without business_id (or with null or an empty string) the platform tenant
    answers."""

    message: MessageText
    session_id: SessionName
    business_id: BusinessId | None = None
    handoff: Annotated[bool, Meta(description=HANDOFF)] = False
    email: VisitorEmail | None = None
    language: VisitorLanguage | None = None
    time_zone: VisitorTimeZone | None = None
    page: VisitorPage | None = None

    @property
    def tenant_business_id(self) -> str:
        return self.business_id or PLATFORM_BUSINESS_ID


class WidgetChatRequest(msgspec.Struct):
    """A visitor's message through the widget."""

    session_id: SessionName
    message: MessageText
    handoff: Annotated[bool, Meta(description=HANDOFF)] = False
    email: VisitorEmail | None = None
    language: VisitorLanguage | None = None
    time_zone: VisitorTimeZone | None = None
    page: VisitorPage | None = None


class ChatReply(msgspec.Struct, kw_only=True):
    """One turn's answer."""

    session_id: Annotated[str, Meta(description="As the client sent it.")]
    reply: Annotated[str | None, Meta(description="The AI's answer; null when an agent answers.")]
    seq: Annotated[int, Meta(description="The last seq of this turn.")]
    mode: Mode
    waiting: Annotated[bool, Meta(description="The conversation waits for a person (asked for, nobody took it yet).")]
    messages: Annotated[list[Message], Meta(description="Agent or system messages the caller has not seen yet.")]
    availability: Annotated[
        AvailabilityFrame | None,
        Meta(
            description="While the visitor waits for a person: who is there, the expected wait or the next "
            "opening, and whether an email address is asked for (as the visitor socket's `availability` frame)."
        ),
    ] = None


class WidgetChatReply(ChatReply, kw_only=True):
    """One turn's answer through the widget, with the visitor's token."""

    visitor_token: Annotated[str, Meta(description="Send it back as `X-Visitor-Token` to stay the same visitor.")]


class AppSessionRequest(msgspec.Struct):
    """The body may be left out (no body or Content-Length: 0)."""

    business_id: OtherTenant | None = None


class AppSession(msgspec.Struct, kw_only=True):
    session_id: str
    tenant_id: str
    business_id: str
    resume_token: Annotated[str, Meta(description="Lets a visitor socket join this session.")]
    seq: Literal[0] = 0


class AppMessageRequest(msgspec.Struct):
    """An agent's message."""

    session_id: Annotated[
        str, Meta(min_length=1, max_length=64, description="An existing session of the tenant (the real id).")
    ]
    message: MessageText
    business_id: OtherTenant | None = None


class AppMessage(msgspec.Struct, kw_only=True):
    session_id: str
    seq: int
    message: Message
    mode: Mode


class History(msgspec.Struct, kw_only=True):
    session_id: str
    seq: Annotated[int, Meta(description="The session's last seq.")]
    mode: Mode
    messages: list[Message]


class VisitorContextAnswer(msgspec.Struct, kw_only=True):
    """What is known about a session's visitor (as Mission Control's `visitor_context` frame)."""

    session_id: str
    context: VisitorContext


class HistoryPath(msgspec.Struct):
    session_id: PathId


class HistoryQuery(ManagedQuery):
    after_seq: Annotated[int, Meta(ge=0, le=MAX_SEQ, description="Only messages after this seq.")] = 0


class WidgetRating(msgspec.Struct):
    """The visitor rates an AI reply of its conversation (as the visitor socket's `rate` frame)."""

    session_id: SessionName
    message_id: Annotated[
        str, Meta(min_length=1, max_length=64, description="The `id` of an AI reply's message in this conversation.")
    ]
    helpful: Annotated[bool, Meta(description="Helpful, or not; rating again replaces the rating.")]


class WidgetRatingReply(msgspec.Struct):
    message_id: str
    helpful: bool


class WidgetSessionRating(msgspec.Struct):
    """The visitor rates the whole conversation (as the visitor socket's `rate_session` frame)."""

    session_id: SessionName
    stars: Annotated[int, Meta(ge=1, le=5, description="1 (poor) to 5 (great); a later rating replaces it.")]
    comment: (
        Annotated[
            str,
            Meta(max_length=COMMENT_CHARS, description=f"Optional, at most {COMMENT_CHARS} characters."),
        ]
        | None
    ) = None


class WidgetSessionRatingReply(msgspec.Struct):
    stars: int
