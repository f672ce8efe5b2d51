"""Mission Control's list over HTTP, for a team: the conversations (filtered by assignee, status, mode,
label), who may be assigned, assignment and transfer, a conversation's assignment history, and the labels on
a conversation. Every agent of the tenant (``chat.manage``) may do all of it; the sockets of every node hear
each change as a ``session`` patch."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from hub import logs
from hub.api.bodies import StructResponse, read_body, read_path, read_query
from hub.api.models import ManagedQuery, PathId, Timestamp
from hub.auth.permissions import CHAT_MANAGE, Principal
from hub.auth.request import require_principal
from hub.chat.control import Agent
from hub.errors import InvalidInput, SessionNotFound
from hub.node import Services
from hub.protocol import Owner, SessionRow, StaffId, TransferNoteText, session_row
from hub.store.assignment import Assignment, Kind
from hub.store.models import Tenant
from hub.store.sessions import SessionFilter, list_sessions

ASSIGN_BODY_BYTES = 4096
NO_STORE = {"Cache-Control": "no-store"}


class StaffEntry(msgspec.Struct, kw_only=True):
    id: str
    name: str
    role: Annotated[str, Meta(description="agent, owner or admin.")]
    online: Annotated[bool, Meta(description="Mission Control is open on some node now.")]
    open_assigned: Annotated[int, Meta(description="Open conversations assigned to them.")]


class StaffList(msgspec.Struct):
    """Who may be assigned conversations: the tenant's active staff, by name."""

    staff: list[StaffEntry]


class SessionsQuery(ManagedQuery, kw_only=True):
    view: Annotated[
        Literal["all", "mine", "unassigned"],
        Meta(description="`mine`: assigned to the caller; `unassigned`: assigned to nobody."),
    ] = "all"
    agent_id: Annotated[str, Meta(max_length=64, description="Assigned to this staff member.")] | None = None
    status: Literal["open", "closed"] | None = None
    mode: Literal["ai", "human"] | None = None
    label_id: Annotated[str, Meta(max_length=64, description="Carrying this label.")] | None = None


class SessionList(msgspec.Struct):
    """Open conversations and those closed in the last day, newest activity first (at most 200), as the agent
    socket's `sessions` frame lists them."""

    sessions: list[SessionRow]


class SessionPath(msgspec.Struct):
    session_id: PathId


class SessionLabelPath(msgspec.Struct):
    session_id: PathId
    label_id: PathId


class AssigneeRequest(msgspec.Struct):
    """Who the conversation is assigned to: a staff member's id, or null for nobody."""

    agent_id: StaffId | None


class TransferRequest(msgspec.Struct):
    """Assign the conversation to someone else, with a note for staff (never shown to the visitor)."""

    agent_id: StaffId
    note: TransferNoteText


class AssignmentEntry(msgspec.Struct, kw_only=True):
    """One change of the conversation's assignee; people are named as they are called now."""

    kind: Annotated[
        Kind,
        Meta(
            description="`assign` (to someone, from nobody), `reassign` (from someone to someone else), `transfer` "
            "(with a note), `unassign`, `round_robin` (the hub's pick), `takeover` (taking over a conversation "
            "assigned to nobody assigned it to the taker)."
        ),
    ]
    assignee: Annotated[Owner | None, Meta(description="Who it was assigned to; null: nobody.")]
    previous: Annotated[Owner | None, Meta(description="Who it was assigned to before; null: nobody.")]
    by: Annotated[Owner | None, Meta(description="Who did it; null: the hub (round-robin).")]
    at: Timestamp
    note: Annotated[str | None, Meta(description="A transfer's note, for staff only.")]

    @classmethod
    def of(cls, kept: Assignment) -> AssignmentEntry:
        def person(found: tuple[str, str] | None) -> Owner | None:
            return Owner(*found) if found is not None else None

        return cls(
            kind=kept.kind,
            assignee=person(kept.assignee),
            previous=person(kept.previous),
            by=person(kept.by),
            at=kept.at.isoformat(),
            note=kept.note,
        )


class AssignmentHistory(msgspec.Struct):
    """The conversation's newest assignments, oldest first."""

    assignments: list[AssignmentEntry]


async def _caller(request: Request, services: Services) -> tuple[Principal, Tenant]:
    principal = await require_principal(request, services.engine, request.method)
    tenant = await services.accounts.acting_tenant(
        principal, read_query(request, ManagedQuery).business_id, CHAT_MANAGE
    )
    logs.tenant_id.set(tenant.id)
    return principal, tenant


def _agent(principal: Principal) -> Agent:
    return Agent(principal.user_id, principal.name, principal.email)


async def _row(services: Services, tenant: Tenant, session_id: str) -> Response:
    row = await services.dashboard.row(tenant.id, session_id)
    if row is None:
        raise SessionNotFound("no such session in this tenant")
    return StructResponse(row)


async def staff(request: Request) -> Response:
    services: Services = request.state.services
    _, tenant = await _caller(request, services)
    found = await services.assignments.staff(tenant.id)
    entries = [
        StaffEntry(id=member.id, name=member.name, role=member.role, online=online, open_assigned=count)
        for member, count, online in found
    ]
    return StructResponse(StaffList(entries), headers={"Cache-Control": "no-store"})


async def sessions(request: Request) -> Response:
    services: Services = request.state.services
    principal, tenant = await _caller(request, services)
    query = read_query(request, SessionsQuery)
    if query.agent_id is not None and query.view != "all":
        raise InvalidInput("give either view (mine, unassigned) or agent_id, not both")
    assignee = {"mine": principal.user_id, "unassigned": "", "all": query.agent_id}[query.view]
    where = SessionFilter(assignee_id=assignee, status=query.status, mode=query.mode, label_id=query.label_id)
    found = await list_sessions(services.engine, tenant.id, where=where)
    online = await services.presence.online(tenant.id)
    rows = [session_row(summary, summary.id in online) for summary in found]
    return StructResponse(SessionList(rows), headers={"Cache-Control": "no-store"})


async def session(request: Request) -> Response:
    services: Services = request.state.services
    _, tenant = await _caller(request, services)
    return await _row(services, tenant, read_path(request, SessionPath).session_id)


async def set_assignee(request: Request) -> Response:
    services: Services = request.state.services
    principal, tenant = await _caller(request, services)
    session_id = read_path(request, SessionPath).session_id
    body = await read_body(request, AssigneeRequest, ASSIGN_BODY_BYTES)
    await services.assignments.assign(tenant.id, session_id, body.agent_id, _agent(principal))
    return await _row(services, tenant, session_id)


async def transfer(request: Request) -> Response:
    services: Services = request.state.services
    principal, tenant = await _caller(request, services)
    session_id = read_path(request, SessionPath).session_id
    body = await read_body(request, TransferRequest, ASSIGN_BODY_BYTES)
    await services.assignments.transfer(tenant.id, session_id, body.agent_id, body.note, _agent(principal))
    return await _row(services, tenant, session_id)


async def add_label(request: Request) -> Response:
    return await _label(request, applied=True)


async def remove_label(request: Request) -> Response:
    return await _label(request, applied=False)


async def _label(request: Request, *, applied: bool) -> Response:
    services: Services = request.state.services
    principal, tenant = await _caller(request, services)
    path = read_path(request, SessionLabelPath)
    await services.assignments.label(tenant.id, path.session_id, path.label_id, applied, _agent(principal))
    return await _row(services, tenant, path.session_id)


async def assignments(request: Request) -> Response:
    services: Services = request.state.services
    _, tenant = await _caller(request, services)
    found = await services.assignments.history(tenant.id, read_path(request, SessionPath).session_id)
    return StructResponse(AssignmentHistory([AssignmentEntry.of(kept) for kept in found]), headers=NO_STORE)
