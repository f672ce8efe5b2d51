"""The signed-in staff member's Mentions inbox (needs ``chat.manage``): the notes that named them, newest first,
with the count of those unread, and marking some or all read. Only the caller's own, in the tenant the call acts
on: another person's and another tenant's mentions are never listed, and their ids are unknown here."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse, read_body, read_query
from hub.api.models import MAX_ID_CHARS, ManagedQuery, Timestamp
from hub.api.tenancy import managed_by
from hub.auth.permissions import CHAT_MANAGE
from hub.errors import InvalidInput
from hub.node import Services
from hub.protocol import Owner
from hub.store.mentions import EXCERPT_CHARS, Mention

MAX_PAGE = 50
MAX_READ_IDS = 100
READ_BODY_BYTES = 8 * 1024
MentionId = Annotated[str, Meta(min_length=1, max_length=MAX_ID_CHARS)]


class MentionsQuery(ManagedQuery, kw_only=True):
    limit: Annotated[int, Meta(ge=1, le=MAX_PAGE, description="Mentions per page.")] = 20
    before: (
        Annotated[
            str,
            Meta(max_length=MAX_ID_CHARS, description="The `next_before` of the previous page: the mentions after it."),
        ]
        | None
    ) = None


class MentionEntry(msgspec.Struct, kw_only=True):
    """A note that mentioned the caller."""

    id: Annotated[str, Meta(description="The mention's id (to mark it read).")]
    session_id: str
    note_id: str
    author: Annotated[Owner, Meta(description="Who wrote the note, by the name they had then.")]
    excerpt: Annotated[str, Meta(description=f"The note's text, its first {EXCERPT_CHARS} characters (… beyond).")]
    created_at: Timestamp
    read: bool
    read_at: Timestamp | None


class MentionPage(msgspec.Struct):
    mentions: list[MentionEntry]
    unread: Annotated[int, Meta(description="The caller's unread mentions, on every page.")]
    next_before: Annotated[str | None, Meta(description="Pass as `before` for the next page; null on the last.")]


class ReadRequest(msgspec.Struct, kw_only=True):
    """Either `ids` or `"all": true`."""

    ids: (
        Annotated[list[MentionId], Meta(min_length=1, max_length=MAX_READ_IDS, description="Mentions to mark read.")]
        | None
    ) = None
    all: Annotated[bool, Meta(description="Mark every mention of the caller read (up to now).")] = False


class MarkedRead(msgspec.Struct):
    ids: Annotated[list[str], Meta(description="The mentions marked read (with `all`: those that were unread).")]
    up_to: Annotated[Timestamp | None, Meta(description="With `all`: when it was done.")]
    unread: Annotated[int, Meta(description="The caller's unread mentions left.")]


def entry(mention: Mention) -> MentionEntry:
    text = mention.text
    excerpt = text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"
    return MentionEntry(
        id=mention.id,
        session_id=mention.session_id,
        note_id=mention.note_id,
        author=Owner(mention.author_id, mention.author_name),
        excerpt=excerpt,
        created_at=mention.created_at.isoformat(),
        read=mention.read_at is not None,
        read_at=mention.read_at.isoformat() if mention.read_at is not None else None,
    )


async def list_mentions(request: Request) -> Response:
    services: Services = request.state.services
    principal, tenant = await managed_by(request, services, CHAT_MANAGE)
    query = read_query(request, MentionsQuery)
    found = await services.mentions.page(tenant.id, principal.user_id, limit=query.limit, before=query.before)
    answer = MentionPage([entry(mention) for mention in found.mentions], found.unread, found.next_before)
    return StructResponse(answer, headers={"Cache-Control": "no-store"})


async def mark_read(request: Request) -> Response:
    services: Services = request.state.services
    principal, tenant = await managed_by(request, services, CHAT_MANAGE)
    body = await read_body(request, ReadRequest, READ_BODY_BYTES)
    if body.all == (body.ids is not None):
        raise InvalidInput("send either 'ids' (the mentions to mark read) or '\"all\": true', not both")
    read = await services.mentions.read(tenant.id, principal.user_id, None if body.all else body.ids)
    return StructResponse(MarkedRead(read.ids, read.up_to, read.unread))
