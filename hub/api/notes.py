"""Staff's side of a conversation (needs ``chat.manage``): its private notes, the colleagues a note may mention,
and the search over every conversation of the tenant. Mission Control writes notes over its socket (the
``note`` frame); these are the same for other clients."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from hub import logs
from hub.api.bodies import StructResponse, read_body, read_path, read_query
from hub.api.models import ManagedQuery, PathId, Timestamp
from hub.api.tenancy import managed_tenant
from hub.auth.permissions import CHAT_MANAGE
from hub.auth.request import require_principal
from hub.chat.control import Agent
from hub.chat.search import MAX_QUERY_CHARS, Shown, find
from hub.errors import InvalidInput, SessionNotFound
from hub.node import Services
from hub.protocol import MAX_MENTIONS, NoteItem, UserId
from hub.store.transcript import get_session

NOTE_BODY_BYTES = 64 * 1024
MAX_PAGE = 50
MAX_OFFSET = 1000


class NotesPath(msgspec.Struct):
    session_id: PathId


class NoteRequest(msgspec.Struct, kw_only=True):
    """A private note: staff see it, the visitor and the AI never do."""

    text: Annotated[str, Meta(min_length=1, description="Up to HUB_MAX_MESSAGE_CHARS characters, not blank.")]
    mentions: Annotated[
        list[UserId],
        Meta(max_length=MAX_MENTIONS, description="Ids of the tenant's staff to alert (see GET /api/staff)."),
    ] = []


class NoteList(msgspec.Struct):
    session_id: str
    notes: list[NoteItem]


class Colleague(msgspec.Struct):
    id: str
    name: str
    role: str


class StaffList(msgspec.Struct):
    staff: list[Colleague]


class SearchQuery(ManagedQuery, kw_only=True):
    q: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=MAX_QUERY_CHARS,
            description="Words to find (every one must match; accents and endings do not matter).",
        ),
    ]
    limit: Annotated[int, Meta(ge=1, le=MAX_PAGE, description="Conversations per page.")] = 20
    offset: Annotated[int, Meta(ge=0, le=MAX_OFFSET, description="Conversations to skip (`next_offset`).")] = 0


class SnippetPart(msgspec.Struct, omit_defaults=True):
    text: str
    mark: bool = False


class SearchMatch(msgspec.Struct, kw_only=True):
    """A message or note of the conversation that holds words of the query."""

    kind: Literal["message", "note"]
    role: Literal["visitor", "ai", "agent", "note"]
    author: str | None
    seq: int | None = None
    note_id: str | None = None
    created_at: Timestamp
    snippet: Annotated[
        list[SnippetPart],
        Meta(description="About 160 characters around the first matching word, in parts: the matching words marked."),
    ]


class SearchResult(SearchMatch, kw_only=True):
    """A conversation whose messages and notes hold every word, through the one holding the most of them (the
    newest of those), and ``also`` the others that hold the words it lacks."""

    session_id: str
    status: Literal["open", "closed"]
    mode: Literal["ai", "human"]
    updated_at: Timestamp
    matches: Annotated[int, Meta(description="Items of this conversation that hold any of the words.")]
    also: Annotated[
        list[SearchMatch],
        Meta(description="Newest first: the other items holding the words the first lacks; empty when it has all."),
    ]


class SearchResults(msgspec.Struct):
    query: str
    results: list[SearchResult]
    next_offset: int | None


def _match(shown: Shown) -> SearchMatch:
    item = shown.item
    return SearchMatch(
        kind=item.kind,  # type: ignore[arg-type]  # the store holds these values only
        role=item.role,  # type: ignore[arg-type]
        author=item.author,
        seq=item.seq,
        note_id=item.item_id if item.kind == "note" else None,
        created_at=item.created_at.isoformat(),
        snippet=[SnippetPart(text, mark) for text, mark in shown.snippet.parts()],
    )


async def list_notes(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, CHAT_MANAGE)
    session_id = read_path(request, NotesPath).session_id
    if await get_session(services.engine, tenant.id, session_id) is None:
        raise SessionNotFound("no such session in this tenant")
    notes = await services.notes.listed(tenant.id, session_id)
    return StructResponse(NoteList(session_id, notes), headers={"Cache-Control": "no-store"})


async def create_note(request: Request) -> Response:
    services: Services = request.state.services
    principal = await require_principal(request, services.engine, request.method)
    business_id = read_query(request, ManagedQuery).business_id
    tenant = await services.accounts.acting_tenant(principal, business_id, CHAT_MANAGE)
    logs.tenant_id.set(tenant.id)
    body = await read_body(request, NoteRequest, NOTE_BODY_BYTES)
    limit = services.settings.max_message_chars
    if len(body.text) > limit:
        raise InvalidInput(f"'text': longer than {limit} characters")
    if not body.text.strip():
        raise InvalidInput("'text' is blank")
    author = Agent(principal.user_id, principal.name, principal.email)
    session_id = read_path(request, NotesPath).session_id
    note = await services.notes.write(tenant, session_id, author, body.text, body.mentions)
    return StructResponse(note, status_code=201)


async def list_staff(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, CHAT_MANAGE)
    people = [Colleague(user.id, user.name, user.role) for user in await services.notes.staff(tenant.id)]
    people.sort(key=lambda person: person.name.casefold())
    return StructResponse(StaffList(people), headers={"Cache-Control": "no-store"})


async def search(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, CHAT_MANAGE)
    query = read_query(request, SearchQuery)
    found, more = await find(services.engine, tenant.id, query.q, limit=query.limit, offset=query.offset)
    results = [
        SearchResult(
            session_id=item.hit.session_id,
            status=item.hit.status,  # type: ignore[arg-type]  # the store holds these values only
            mode=item.hit.mode,  # type: ignore[arg-type]
            updated_at=item.hit.updated_at.isoformat(),
            matches=item.hit.matches,
            also=[_match(other) for other in item.others],
            **msgspec.structs.asdict(_match(item.best)),
        )
        for item in found
    ]
    next_offset = query.offset + query.limit if more and query.offset + query.limit <= MAX_OFFSET else None
    answer = SearchResults(query.q, results, next_offset)
    return StructResponse(answer, headers={"Cache-Control": "no-store"})
