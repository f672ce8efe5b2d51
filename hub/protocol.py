"""The wire protocol of both sockets: every frame, in both directions, and every close code.

docs/PROTOCOL.md describes these definitions and ``tests/test_protocol_docs.py`` holds the two together.
Frames are msgspec structs tagged by ``type``, so one definition gives parsing, validation and encoding
(measured: a visitor frame parses in 0.25 µs, against 1.32 µs for the hand-written checks before).
The few layouts the hot path reads as text instead of parsing (a token's index, a watched session's
prefix) are derived here from the same definitions.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Annotated, Any, Literal, NamedTuple, Protocol

import msgspec
import orjson
from msgspec import UNSET, Meta, Struct, UnsetType

from hub.appearance import WidgetAppearance
from hub.errors import HubError
from hub.origins import page_url


class StoredMessage(Protocol):
    """What a frame needs of a stored message (``hub.store.models.StoredMessage`` has it)."""

    @property
    def seq(self) -> int: ...
    @property
    def id(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def client_id(self) -> str | None: ...
    @property
    def meta(self) -> dict[str, Any] | None: ...


class SessionSummary(Protocol):
    """What a session list row needs (``hub.store.models.SessionSummary`` has it)."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def owner_id(self) -> str | None: ...
    @property
    def owner_name(self) -> str | None: ...
    @property
    def seq(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def last_message(self) -> StoredMessage | None: ...
    @property
    def waiting(self) -> StoredWaiting | None: ...
    @property
    def assignee_id(self) -> str | None: ...
    @property
    def assignee_name(self) -> str | None: ...
    @property
    def labels(self) -> tuple[str, ...]: ...
    @property
    def transfer(self) -> StoredTransfer | None: ...


class StoredTransfer(Protocol):
    @property
    def by_id(self) -> str: ...
    @property
    def by_name(self) -> str: ...
    @property
    def note(self) -> str: ...
    @property
    def at(self) -> datetime: ...


class StoredWaiting(Protocol):
    @property
    def since(self) -> datetime: ...
    @property
    def reason(self) -> str: ...
    @property
    def note(self) -> str | None: ...


# --- close codes ------------------------------------------------------------------------------


class Close(IntEnum):
    """Close codes the hub sends. ``1012`` (the node is shutting down) comes from uvicorn."""

    POLICY_VIOLATION = 1008
    FRAME_TOO_BIG = 1009
    INTERNAL = 1011
    BAD_REQUEST = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    UNKNOWN_TENANT = 4404
    TOO_SLOW = 4408


class Refusal(NamedTuple):
    """A close code with the reason sent beside it."""

    code: Close
    reason: str


UNKNOWN_TENANT = Refusal(Close.UNKNOWN_TENANT, "unknown tenant")
ORIGIN_NOT_ALLOWED = Refusal(Close.FORBIDDEN, "origin not allowed for this tenant")
BAD_LAST_SEQ = Refusal(Close.BAD_REQUEST, "last_seq must be a non-negative integer")
BAD_RESUME_TOKEN = Refusal(Close.BAD_REQUEST, "resume token does not match this session")
VISITOR_TOO_SLOW = Refusal(Close.TOO_SLOW, "too slow: reconnect and resume from last_seq")
AGENT_TOO_SLOW = Refusal(Close.TOO_SLOW, "too slow: reconnect and watch again with last_seq")
TOO_MANY_REFUSALS = Refusal(Close.POLICY_VIOLATION, "too many refused frames (invalid, or over a rate limit)")
NO_DATABASE = Refusal(Close.INTERNAL, "the hub cannot reach its database; retry shortly")
INTERNAL = Refusal(Close.INTERNAL, "internal error")
NOT_LOGGED_IN = Refusal(Close.UNAUTHENTICATED, "log in first (cookie session or Authorization: Bearer)")
TOKEN_REFUSED = Refusal(Close.UNAUTHENTICATED, "the login token is unknown, expired or revoked; log in again")
FOREIGN_COOKIE = Refusal(Close.FORBIDDEN, "a cookie session may only connect from the hub's own pages")
NO_CHAT_MANAGE = Refusal(Close.FORBIDDEN, "this account lacks the chat.manage permission")
NOT_PLATFORM_ADMIN = Refusal(Close.FORBIDDEN, "only platform admins may open another tenant")
NO_SUCH_BUSINESS = Refusal(Close.UNKNOWN_TENANT, "no tenant with that business_id")
# An open agent socket whose sign-in ended (``hub.auth.signout``): closed on every node within a moment.
ACCOUNT_DEACTIVATED = Refusal(Close.UNAUTHENTICATED, "account deactivated: this login has ended")
PASSWORD_RESET = Refusal(Close.UNAUTHENTICATED, "password reset: this login has ended; log in again")
SIGNED_OUT = Refusal(Close.UNAUTHENTICATED, "this login has ended (revoked); log in again")


def frame_too_big(max_bytes: int) -> Refusal:
    return Refusal(Close.FRAME_TOO_BIG, f"frame larger than {max_bytes} bytes")


# --- error codes --------------------------------------------------------------------------------

# Refusals of a client frame by the frame itself; errors of the hub's own (``hub.errors``) add their codes.
FrameCode = Literal[
    "invalid_json",
    "invalid_frame",
    "unknown_type",
    "text_too_long",
    "empty_text",
    "bad_resume_token",
    "resume_too_late",
    "binary_not_supported",
    "not_watching",
    "too_many_watches",
    "rate_limited",
    "invalid_email",
    "email_unavailable",
    "invalid_url",
]
# Every ``code`` each socket's ``error`` frames may carry (docs/PROTOCOL.md lists the same).
VISITOR_ERROR_CODES = (
    "invalid_json",
    "invalid_frame",
    "unknown_type",
    "text_too_long",
    "empty_text",
    "bad_resume_token",
    "resume_too_late",
    "binary_not_supported",
    "rate_limited",
    "not_stored",
    "internal",
    "ai_unavailable",
    "invalid_email",
    "email_unavailable",
    "unknown_message",
    "unknown_session",
    "invalid_url",
)
AGENT_ERROR_CODES = (
    "invalid_json",
    "invalid_frame",
    "unknown_type",
    "text_too_long",
    "empty_text",
    "binary_not_supported",
    "unknown_session",
    "owned_by_other",
    "not_owner",
    "unavailable",
    "not_watching",
    "too_many_watches",
    "rate_limited",
    "not_stored",
    "internal",
    "ai_unavailable",
    "unknown_agent",
    "not_assignable",
    "already_assigned",
    "unknown_label",
    "session_label_limit",
    "unknown_mention",
)

# --- field types --------------------------------------------------------------------------------

SessionId = Annotated[str, Meta(min_length=1, max_length=64)]
ClientId = Annotated[str, Meta(max_length=64)]
Seq = Annotated[int, Meta(ge=0)]
Ref = Annotated[str, Meta(max_length=64)]
ResumeToken = Annotated[str, Meta(max_length=128)]
Role = Literal["visitor", "ai", "agent", "system"]
MAX_WATCHES = 50
PREVIEW_CHARS = 200

# --- client -> server: the visitor socket ----------------------------------------------------------


class _ClientFrame(Struct, tag_field="type", kw_only=True):
    """Unknown fields are ignored, so clients may send more than the hub reads."""


class SayIn(_ClientFrame, tag="message"):
    """A visitor's message; ``client_id`` makes a retry idempotent."""

    text: str
    client_id: ClientId | None = None


class ResumeIn(_ClientFrame, tag="resume"):
    """Move this connection to an earlier session (before it has sent a message)."""

    session_id: SessionId
    resume_token: ResumeToken
    last_seq: Seq = 0


class TypingIn(_ClientFrame, tag="typing"):
    active: bool = True


class PingIn(_ClientFrame, tag="ping"):
    pass


class HandoffIn(_ClientFrame, tag="handoff"):
    """The visitor asks for a person (the widget's "Talk to a person"); ``reason`` in their words."""

    reason: Annotated[str, Meta(max_length=200)] | None = None


TimeZoneName = Annotated[str, Meta(max_length=64)]
LanguageTag = Annotated[str, Meta(max_length=35)]


class AvailabilityIn(_ClientFrame, tag="availability"):
    """Is a person there? Asked while the session waits for one; the answer is in the visitor's
    ``language`` (a BCP 47 tag, e.g. from ``navigator.language``) and IANA ``time_zone`` (from
    ``Intl.DateTimeFormat().resolvedOptions().timeZone``)."""

    time_zone: TimeZoneName | None = None
    language: LanguageTag | None = None


class EmailIn(_ClientFrame, tag="email"):
    """The visitor leaves an email address: agent replies written while they are away are sent there."""

    address: Annotated[str, Meta(max_length=254)]
    language: LanguageTag | None = None


COMMENT_CHARS = 1000  # the longest comment a session rating may carry (the widget and the HTTP path say so)
MessageId = Annotated[str, Meta(min_length=1, max_length=64)]
Stars = Annotated[int, Meta(ge=1, le=5)]
Comment = Annotated[str, Meta(max_length=COMMENT_CHARS)]


class RateIn(_ClientFrame, tag="rate"):
    """The visitor rates an AI reply of this session; rating it again replaces the rating."""

    message_id: MessageId
    helpful: bool


class RateSessionIn(_ClientFrame, tag="rate_session"):
    """The visitor rates the whole conversation (asked when it closes); a later rating replaces it."""

    stars: Stars
    comment: Comment | None = None


PAGE_TITLE_CHARS = 300
PageUrl = Annotated[str, Meta(min_length=1)]  # checked by ``hub.origins.page_url`` (http or https, length)
PageTitle = Annotated[str, Meta(max_length=PAGE_TITLE_CHARS)]
# What staff read about a visitor's browser: tags and zone names only, no free text.
LANGUAGE_TAG = r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$"
TIME_ZONE_NAME = r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$"
BrowserLanguage = Annotated[str, Meta(max_length=35, pattern=LANGUAGE_TAG)]
BrowserTimeZone = Annotated[str, Meta(max_length=64, pattern=TIME_ZONE_NAME)]


class PageIn(_ClientFrame, tag="page"):
    """The page the visitor is on (the widget sends it on connect and when it changes), for Mission Control:
    its http(s) ``url`` and ``title``, the widget's ``language``, the browser's and the IANA ``time_zone``."""

    url: PageUrl
    title: PageTitle | None = None
    language: BrowserLanguage | None = None
    browser_language: BrowserLanguage | None = None
    time_zone: BrowserTimeZone | None = None


VisitorIn = (
    SayIn | ResumeIn | TypingIn | PingIn | HandoffIn | AvailabilityIn | EmailIn | RateIn | RateSessionIn | PageIn
)

# --- client -> server: the agent socket -----------------------------------------------------------


class _Command(_ClientFrame):
    """Every agent frame may carry ``ref``, echoed in its ``ok`` or ``error`` answer."""

    ref: Ref | None = None


class _SessionCommand(_Command, kw_only=True):
    session_id: SessionId


class WatchIn(_SessionCommand, tag="watch"):
    last_seq: Seq = 0


class UnwatchIn(_SessionCommand, tag="unwatch"):
    pass


class TakeoverIn(_SessionCommand, tag="takeover"):
    force: bool = False


class AgentSayIn(_SessionCommand, tag="message", kw_only=True):
    text: str
    client_id: ClientId | None = None


class AgentTypingIn(_SessionCommand, tag="typing"):
    active: bool = True


class HandbackIn(_SessionCommand, tag="handback"):
    force: bool = False


class CloseIn(_SessionCommand, tag="close"):
    force: bool = False


class AgentPingIn(_Command, tag="ping"):
    pass


StaffId = Annotated[str, Meta(min_length=1, max_length=64)]
LabelId = Annotated[str, Meta(min_length=1, max_length=64)]
TRANSFER_NOTE_CHARS = 500
TransferNoteText = Annotated[str, Meta(min_length=1, max_length=TRANSFER_NOTE_CHARS, pattern=r"\S")]


class AssignIn(_SessionCommand, tag="assign", kw_only=True):
    """Assign the session to a staff member of the tenant (``null``: to nobody)."""

    agent_id: StaffId | None


class TransferIn(_SessionCommand, tag="transfer", kw_only=True):
    """Assign the session to another staff member with a note for staff (never shown to the visitor)."""

    agent_id: StaffId
    note: TransferNoteText


class LabelIn(_SessionCommand, tag="label", kw_only=True):
    """Put one of the tenant's labels on the session (``applied``) or take it off."""

    label_id: LabelId
    applied: bool = True


MAX_MENTIONS = 20
UserId = Annotated[str, Meta(min_length=1, max_length=64)]


class NoteIn(_SessionCommand, tag="note", kw_only=True):
    """A private note on the conversation: staff see it, the visitor and the AI never do. ``mentions``: the
    ids of staff members of the tenant to alert (the ``@Name`` picked in Mission Control)."""

    text: str
    mentions: Annotated[list[UserId], Meta(max_length=MAX_MENTIONS)] = []


AgentIn = (
    WatchIn
    | UnwatchIn
    | TakeoverIn
    | AgentSayIn
    | AgentTypingIn
    | HandbackIn
    | CloseIn
    | AssignIn
    | TransferIn
    | LabelIn
    | AgentPingIn
    | NoteIn
)

# --- server -> client ------------------------------------------------------------------------------


class _ServerFrame(Struct, tag_field="type", omit_defaults=True, kw_only=True):
    """Optional fields are left out of the JSON when they hold their default."""


class Ready(_ServerFrame, tag="ready"):
    session_id: str
    resume_token: str
    seq: int
    assistant: str | None = None  # the name the tenant's AI speaks as (its active persona), when it has one
    appearance: WidgetAppearance | None = None  # how the tenant's widget looks now (as in ``widget``)


class WidgetChanged(_ServerFrame, tag="widget", kw_only=True):
    """The tenant changed its widget (the active persona, its name, or how the widget looks): the whole state,
    sent to every open widget of the tenant on every node. A widget applies it as it is, without a reload."""

    assistant: str | None = None  # the name the tenant's AI speaks as, when it has an active persona
    appearance: WidgetAppearance


class Source(Struct, frozen=True, omit_defaults=True):
    """Where an AI reply's answer came from: a knowledge entry's title and link."""

    title: str
    url: str | None = None


class Message(_ServerFrame, tag="message"):
    """A durable message: the only frame with a ``seq``."""

    seq: int
    id: str
    role: Role
    text: str
    created_at: str
    client_id: str | None = None
    truncated: bool = False
    author: str | None = None
    replies_to: int | None = None  # an AI reply: the newest seq it took into account
    event: str | None = None  # a system message: what happened (handoff_requested, takeover, handback, close)
    sources: list[Source] | None = None  # an AI reply: the knowledge entries it answered from


class Token(_ServerFrame, tag="token"):
    """One text delta of the AI reply being generated; the reply's ``message`` has ``id == message_id``."""

    message_id: str
    index: int
    text: str


class ReplyAborted(_ServerFrame, tag="reply_aborted"):
    """The AI reply with these tokens will never be finished (its node died): drop them; a new reply follows."""

    message_id: str


class Typing(_ServerFrame, tag="typing"):
    role: Literal["visitor", "ai", "agent"]
    active: bool
    author: str | None = None


class Pong(_ServerFrame, tag="pong"):
    pass


class AvailabilityFrame(_ServerFrame, tag="availability"):
    """The answer to ``availability``: who is there, and what the visitor can expect."""

    agents_online: bool  # someone of the team has Mission Control open
    email_offered: bool  # nobody is there (now): the visitor may leave an email address
    open: bool | None = None  # within office hours; absent when the tenant set none
    next_open: str | None = None  # outside office hours: the next opening (ISO 8601, UTC)
    next_open_text: str | None = None  # the same as the visitor reads it: "Monday 9:00 AM" in their zone
    expected_wait_s: int | None = None  # someone is there: the tenant's median time to a first agent reply
    email: str | None = None  # the address already left for this conversation


class EmailSaved(_ServerFrame, tag="email_saved"):
    address: str


class Rated(_ServerFrame, tag="rated"):
    """The rating now stored for an AI reply: the answer to ``rate``, and to every socket of the session (on
    every node: other tabs, watching agents) whenever one is stored, whichever path it came by."""

    message_id: str
    helpful: bool


class SessionRated(_ServerFrame, tag="session_rated"):
    """The conversation's rating now stored: the answer to ``rate_session``, and to every socket of the
    session whenever one is stored."""

    stars: int
    comment: str | None = None


class Owner(Struct, frozen=True):
    id: str
    name: str


class Error(_ServerFrame, tag="error"):
    """``retry_after`` (whole seconds, at least 1) comes with ``rate_limited`` only."""

    code: str
    message: str
    session_id: str | None = None
    ref: str | None = None
    owner: Owner | None = None
    retry_after: int | None = None


class Preview(Struct):
    seq: int
    role: Role
    text: str
    created_at: str


# agent_left: the agent who had the conversation was deactivated, and it went back to the Waiting queue.
HandoffReason = Literal["visitor", "ai", "credits", "agent_left"]


class Waiting(Struct):
    """A session waiting for a person: since when, why, and in whose words (the visitor's or the model's)."""

    since: str
    reason: HandoffReason
    note: str | None


class Transfer(Struct):
    """The staff-only note a session was last transferred with (to its current assignee)."""

    by: Owner
    note: str
    at: str


class Label(Struct):
    """One of the tenant's labels; sessions name the labels they carry by ``id``."""

    id: str
    name: str
    color: str


class SessionRow(Struct):
    """A row of Mission Control's session list; every field is always sent."""

    id: str
    status: Literal["open", "closed"]
    mode: Literal["ai", "human"]
    owner: Owner | None
    visitor_online: bool
    seq: int
    created_at: str
    updated_at: str
    last_message: Preview | None
    waiting: Waiting | None
    assignee: Owner | None  # the staff member responsible for it
    labels: list[str]  # the ids of the tenant's labels it carries, by the labels' names
    transfer: Transfer | None  # the note it was transferred to its assignee with


class SessionChange(Struct, omit_defaults=True):
    """What changed about one session: ``id`` and only the fields that changed (``owner: null`` is a change)."""

    id: str
    seq: int | UnsetType = UNSET
    status: Literal["open", "closed"] | UnsetType = UNSET
    mode: Literal["ai", "human"] | UnsetType = UNSET
    owner: Owner | UnsetType | None = UNSET
    visitor_online: bool | UnsetType = UNSET
    created_at: str | UnsetType = UNSET
    updated_at: str | UnsetType = UNSET
    last_message: Preview | UnsetType = UNSET
    waiting: Waiting | UnsetType | None = UNSET
    assignee: Owner | UnsetType | None = UNSET
    labels: list[str] | UnsetType = UNSET
    transfer: Transfer | UnsetType | None = UNSET


class AgentInfo(Struct):
    id: str
    name: str
    role: str


class TenantInfo(Struct):
    id: str
    business_id: str
    name: str


class AgentReady(_ServerFrame, tag="ready"):
    agent: AgentInfo
    tenant: TenantInfo
    node: str


class Sessions(_ServerFrame, tag="sessions"):
    """The whole list, and the tenant's labels; a second one replaces both."""

    sessions: list[SessionRow]
    labels: list[Label]


class Labels(_ServerFrame, tag="labels"):
    """The tenant's labels changed (added, renamed, recoloured, deleted): the whole set, by name."""

    labels: list[Label]


class SessionPatch(_ServerFrame, tag="session"):
    session: SessionChange


class Notice(_ServerFrame, tag="notice"):
    """An alert for every agent of the tenant."""

    code: Literal["credits_exhausted"]
    message: str
    session_id: str | None = None


class StaffRenamed(_ServerFrame, tag="renamed"):
    """A staff member of the tenant changed their display name: their next messages carry it."""

    agent_id: str
    name: str


class PageSeen(Struct):
    """A page of a visitor's visit: its address, its title when the browser gave one, and when it was seen."""

    url: str
    title: str | None
    at: str


class VisitorContext(Struct):
    """What is known about the visitor of a session, beside the conversation; every field is always sent."""

    first_seen: str | None  # the first page or activity reported (or the session's start, if earlier)
    last_seen: str | None
    visits: int  # a new visit begins after 30 minutes without activity; 0 while nothing was reported
    visit_started: str | None
    page: PageSeen | None  # the page the visitor is on now (the newest reported)
    pages: list[PageSeen]  # the current visit's pages, oldest first (the last few)
    language: str | None  # the widget's language
    browser_language: str | None
    time_zone: str | None
    email: str | None  # the address the visitor left for replies (email continuity)
    version: int  # grows with every change: a client keeps the highest it got


class VisitorContextFrame(_ServerFrame, tag="visitor_context"):
    """A visitor's context changed (a new page, a new visit, an email left): every agent of the tenant hears it."""

    session_id: str
    context: VisitorContext


class NoteItem(Struct):
    """A private note: who wrote it, when, after which message of the transcript, and whom it mentions."""

    id: str
    author: Owner
    text: str
    created_at: str
    after_seq: int  # the session's newest message when it was written: the note sits after it
    mentions: list[Owner]


class NoteFrame(_ServerFrame, tag="note"):
    """A note was written on a session this socket watches (on any node)."""

    session_id: str
    note: NoteItem


class NotesFrame(_ServerFrame, tag="notes"):
    """The session's notes (the newest 200, oldest first), after a ``watch``'s replay."""

    session_id: str
    notes: list[NoteItem]


class Mentioned(_ServerFrame, tag="mentioned"):
    """This agent was mentioned in a note (only the mentioned person's sockets get it, on every node)."""

    agent_id: str
    session_id: str
    note: NoteItem
    mention_id: str  # the entry in the person's Mentions inbox (GET /api/mentions), to mark it read


class MentionsRead(_ServerFrame, tag="mentions_read"):
    """This agent marked mentions read (in any tab, on any node): their other Mission Controls follow."""

    agent_id: str
    ids: list[str]  # the mentions marked read (with "mark all read": those it found unread)
    up_to: str | None  # "mark all read": the time it was done
    unread: int  # the person's unread mentions left, as the store counted them then


class Watching(_ServerFrame, tag="watching"):
    session_id: str
    seq: int
    session: SessionRow


class Ok(_ServerFrame, tag="ok"):
    action: Literal[
        "watch", "unwatch", "takeover", "message", "handback", "close", "assign", "transfer", "label", "note"
    ]
    session_id: str
    ref: str | None = None
    seq: int | None = None
    id: str | None = None


VisitorOut = (
    Ready
    | Message
    | Token
    | ReplyAborted
    | Typing
    | Pong
    | Error
    | AvailabilityFrame
    | EmailSaved
    | Rated
    | SessionRated
    | WidgetChanged
)
AgentOut = (
    AgentReady
    | Sessions
    | SessionPatch
    | Notice
    | StaffRenamed
    | VisitorContextFrame
    | Labels
    | Watching
    | NoteFrame
    | NotesFrame
    | Mentioned
    | MentionsRead
    | Ok
    | Message
    | Token
    | ReplyAborted
    | Typing
    | Rated
    | SessionRated
    | Pong
    | Error
)

# --- between nodes (a tenant's control channel; the pricebook, knowledge, sign-out, tenants channels)


class CancelReply(_ServerFrame, tag="cancel_reply"):
    """Stop the AI reply of a session, on whichever node generates it."""

    session_id: str


class PricebookPublished(_ServerFrame, tag="pricebook_published"):
    pass


class KnowledgeChanged(_ServerFrame, tag="knowledge_changed"):
    """A tenant's knowledge entries changed: every node drops what it cached of them."""

    tenant_id: str


class SessionsEnded(_ServerFrame, tag="sessions_ended"):
    """A person's logins ended (deactivated, or a new password): every node closes their agent sockets."""

    tenant_id: str
    user_id: str
    reason: Literal["deactivated", "password_reset"]
    keep: str | None = None  # the hash of the one token that stays signed in (the reset's own new login)


class TenantChanged(_ServerFrame, tag="tenant_changed"):
    """A tenant's settings, personas or widget changed: every node drops what it cached of that tenant."""

    tenant_id: str


NodeFrame = CancelReply | PricebookPublished | KnowledgeChanged | SessionsEnded | TenantChanged

# --- encoding ------------------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
encode = _encoder.encode
PONG = encode(Pong()).decode()
_node_decoder = msgspec.json.Decoder(NodeFrame)


def decode_node_frame(raw: str | bytes) -> NodeFrame | None:
    """A frame from another node, or None for anything else (a newer node may send more kinds)."""
    try:
        return _node_decoder.decode(raw)
    except msgspec.DecodeError:
        return None


def message_frame(message: StoredMessage) -> Message:
    meta = message.meta or {}
    return Message(
        seq=message.seq,
        id=message.id,
        role=message.role,  # type: ignore[arg-type]  # the store only holds the four roles
        text=message.text,
        created_at=message.created_at.isoformat(),
        client_id=message.client_id,
        truncated=bool(meta.get("truncated", False)),
        author=meta.get("author"),
        replies_to=meta.get("replies_to"),
        event=meta.get("event"),
        sources=_sources(meta.get("sources")),
    )


def _sources(stored: object) -> list[Source] | None:
    if not isinstance(stored, list) or not stored:
        return None
    return [Source(str(item.get("title", "")), item.get("url")) for item in stored if isinstance(item, dict)]


def preview(message: StoredMessage) -> Preview:
    return Preview(message.seq, message.role, message.text[:PREVIEW_CHARS], message.created_at.isoformat())  # type: ignore[arg-type]


def owner(owner_id: str | None, owner_name: str | None) -> Owner | None:
    return None if owner_id is None else Owner(owner_id, owner_name or "")


def waiting(found: StoredWaiting | None) -> Waiting | None:
    if found is None:
        return None
    return Waiting(since=found.since.isoformat(), reason=found.reason, note=found.note)  # type: ignore[arg-type]


def transfer(found: StoredTransfer | None) -> Transfer | None:
    if found is None:
        return None
    return Transfer(by=Owner(found.by_id, found.by_name), note=found.note, at=found.at.isoformat())


def session_row(summary: SessionSummary, visitor_online: bool) -> SessionRow:
    return SessionRow(
        id=summary.id,
        status=summary.status,  # type: ignore[arg-type]
        mode=summary.mode,  # type: ignore[arg-type]
        owner=owner(summary.owner_id, summary.owner_name),
        visitor_online=visitor_online,
        seq=summary.seq,
        created_at=summary.created_at.isoformat(),
        updated_at=summary.updated_at.isoformat(),
        last_message=None if summary.last_message is None else preview(summary.last_message),
        waiting=waiting(summary.waiting),
        assignee=owner(summary.assignee_id, summary.assignee_name),
        labels=list(summary.labels),
        transfer=transfer(summary.transfer),
    )


# --- layouts read as text on the hot path ------------------------------------------------------------


def token_prefix(message_id: str) -> str:
    """The text every token frame of one reply starts with, up to its index: cut from a real encoding."""
    sample = encode(Token(message_id=message_id, index=0, text="")).decode()
    return sample[: sample.index('"index":') + len('"index":')]


def token_index(frame: str, prefix: str) -> int | None:
    """The index of a token frame that starts with ``prefix`` (see ``token_prefix``), else None."""
    if not frame.startswith(prefix):
        return None
    return int(frame[len(prefix) : frame.index(",", len(prefix))])


def session_prefix(session_id: str) -> str:
    """A watched session's frames reach agents with ``session_id`` first: this prefix plus the frame's rest."""
    return '{"session_id":' + orjson.dumps(session_id).decode() + ","


def tag_session(prefix: str, frame: str) -> str:
    return prefix + frame[1:]


# --- parsing ---------------------------------------------------------------------------------------


class FrameError(HubError):
    """A client frame the hub refuses; it goes back as an ``error`` frame and the socket stays open."""

    def __init__(
        self,
        code: FrameCode,
        message: str,
        *,
        ref: str | None = None,
        session_id: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.ref = ref
        self.session_id = session_id
        self.retry_after = retry_after

    def frame(self) -> Error:
        return Error(
            code=self.code,
            message=self.message,
            session_id=self.session_id,
            ref=self.ref,
            retry_after=self.retry_after,
        )


_visitor_decoder = msgspec.json.Decoder(VisitorIn)
_agent_decoder = msgspec.json.Decoder(AgentIn)
_VISITOR_TYPES = frozenset(
    ("message", "resume", "typing", "ping", "handoff", "availability", "email", "rate", "rate_session", "page")
)
_AGENT_TYPES = frozenset(
    (
        "watch",
        "unwatch",
        "takeover",
        "message",
        "typing",
        "handback",
        "close",
        "assign",
        "transfer",
        "label",
        "note",
        "ping",
    )
)


def parse_visitor_frame(raw: str, *, max_chars: int) -> VisitorIn:
    try:
        frame = _visitor_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise _refused(raw, exc, _VISITOR_TYPES) from None
    if isinstance(frame, SayIn):
        _check_text(frame.text, max_chars)
        if frame.client_id == "":
            return SayIn(text=frame.text)
    elif isinstance(frame, PageIn):
        return _checked_page(frame)
    return frame


def parse_agent_frame(raw: str, *, max_chars: int) -> AgentIn:
    """A refusal carries whatever ``ref`` and ``session_id`` could be read, for the answer."""
    try:
        frame = _agent_decoder.decode(raw)
        if isinstance(frame, _SessionCommand) and "\x00" in frame.session_id:
            raise FrameError("invalid_frame", "'session_id' is empty or malformed")
        if isinstance(frame, AgentSayIn | NoteIn):
            _check_text(frame.text, max_chars)
        if isinstance(frame, TransferIn | AssignIn | LabelIn):
            for name in ("agent_id", "label_id", "note"):
                if "\x00" in (getattr(frame, name, None) or ""):
                    raise FrameError("invalid_frame", f"'{name}' must not contain NUL characters")
    except msgspec.DecodeError as exc:
        raise _refused(raw, exc, _AGENT_TYPES) from None
    except FrameError as exc:
        exc.ref, exc.session_id = _context(raw)
        raise
    if isinstance(frame, AgentSayIn) and frame.client_id == "":
        return AgentSayIn(session_id=frame.session_id, text=frame.text, ref=frame.ref)
    return frame


def _check_text(text: str, max_chars: int) -> None:
    if len(text) > max_chars:
        raise FrameError("text_too_long", f"message text is longer than {max_chars} characters")
    if not text.strip():
        raise FrameError("empty_text", "message text is empty")
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail the store's batch.
        raise FrameError("invalid_frame", "message text must not contain NUL characters")


def _checked_page(frame: PageIn) -> PageIn:
    try:
        url = page_url(frame.url)
    except ValueError as exc:
        raise FrameError("invalid_url", str(exc)) from None
    return PageIn(
        url=url,
        title=page_title(frame.title),
        language=frame.language,
        browser_language=frame.browser_language,
        time_zone=frame.time_zone,
    )


def page_title(title: str | None) -> str | None:
    """A page title as staff read it: one line, no control characters; None when nothing is left."""
    if title is None:
        return None
    cleaned = " ".join("".join(char for char in title if char.isprintable() or char.isspace()).split())
    return cleaned or None


def _refused(raw: str, exc: msgspec.DecodeError, known: frozenset[str]) -> FrameError:
    """Name what was wrong; this path may parse the frame again, the valid one never does."""
    if not isinstance(exc, msgspec.ValidationError):
        return FrameError("invalid_json", "frame is not valid JSON")
    body = orjson.loads(raw)
    ref, session_id = _context(raw, body)
    if not isinstance(body, dict):
        return FrameError("invalid_frame", "frame must be a JSON object with a 'type'")
    kind = body.get("type")
    if not isinstance(kind, str):
        return FrameError("invalid_frame", "frame must have a string 'type'", ref=ref, session_id=session_id)
    if kind not in known:
        return FrameError("unknown_type", f"unknown frame type {kind[:40]!r}", ref=ref, session_id=session_id)
    return FrameError("invalid_frame", str(exc), ref=ref, session_id=session_id)


def _context(raw: str, body: object = None) -> tuple[str | None, str | None]:
    if body is None:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None, None
    if not isinstance(body, dict):
        return None, None
    ref, session_id = body.get("ref"), body.get("session_id")
    return (
        ref if isinstance(ref, str) and len(ref) <= 64 else None,
        session_id if isinstance(session_id, str) and len(session_id) <= 64 else None,
    )
