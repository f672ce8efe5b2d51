"""``/api/knowledge``: what a tenant's AI answers from (``knowledge.manage``: owners and admins).

Every change is committed, then announced to every node (``KnowledgeBase.changed``), so the next
reply on any node searches the new knowledge.

Bulk import (``POST /api/knowledge/import``) takes JSON: ``format`` ``markdown`` (each file one
entry; the title is its first heading, the body the rest; a file without a heading is titled by its
name) or ``csv`` (one file, a header row naming ``title`` and ``body`` and optionally ``url``,
``language``, ``enabled``; one entry per row). All entries are written in one transaction, or none
when any is refused (the error names the file and row).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType
from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse, field_message, read_body, read_path
from hub.api.models import PathId, Timestamp
from hub.api.tenancy import managed_tenant
from hub.auth.permissions import KNOWLEDGE_MANAGE
from hub.errors import Conflict, InvalidInput, NotFound
from hub.node import Services
from hub.store import knowledge as store
from hub.store.knowledge import BODY_CHARS, TITLE_CHARS, URL_CHARS
from hub.store.knowledge import MAX_ENTRIES as MAX_ENTRIES  # stated in the route's description

KNOWLEDGE_BODY_BYTES = 128 * 1024
IMPORT_BODY_BYTES = 4 * 1024 * 1024
IMPORT_FILES = 100
IMPORT_FILE_CHARS = 1_000_000

Title = Annotated[
    str, Meta(min_length=1, max_length=TITLE_CHARS, pattern=r"\S", description="What the entry answers, in brief.")
]
Body = Annotated[str, Meta(min_length=1, max_length=BODY_CHARS, pattern=r"\S", description="The answer, in Markdown.")]
Url = Annotated[
    str,
    Meta(
        max_length=URL_CHARS,
        pattern=r"^https?://\S+$",
        description="Where the visitor can read more (http or https); shown with replies that use the entry.",
    ),
]
Language = Annotated[Literal["en", "pl"], Meta(description="The language the entry is written in.")]


class KnowledgeRequest(msgspec.Struct, kw_only=True):
    """A new entry."""

    title: Title
    body: Body
    url: Url | None = None
    language: Language = "en"
    enabled: Annotated[bool, Meta(description="false: kept, but the AI does not answer from it.")] = True


class KnowledgeChange(msgspec.Struct, kw_only=True):
    """The fields to change (PUT and PATCH alike); the others stay as they are. ``url`` null removes it."""

    title: Title | UnsetType = UNSET
    body: Body | UnsetType = UNSET
    url: Url | UnsetType | None = UNSET
    language: Language | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET


class KnowledgeEntry(msgspec.Struct, kw_only=True):
    id: str
    title: str
    body: str
    url: str | None
    language: str
    enabled: bool
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, entry: store.Entry) -> KnowledgeEntry:
        return cls(
            id=entry.id,
            title=entry.title,
            body=entry.body,
            url=entry.url,
            language=entry.language,
            enabled=entry.enabled,
            created_at=entry.created_at.isoformat(),
            updated_at=entry.updated_at.isoformat(),
        )


class KnowledgeList(msgspec.Struct):
    entries: list[KnowledgeEntry]


class UnansweredQuestion(msgspec.Struct, kw_only=True):
    question: Annotated[str, Meta(description="The latest wording of these similar questions.")]
    count: Annotated[int, Meta(description="How often they were asked in the last 30 days.")]
    reason: Annotated[
        Literal["no_knowledge", "handoff"],
        Meta(description="The latest time: answered without matching knowledge, or it ended with a person."),
    ]
    last_asked_at: Timestamp
    answer: Annotated[
        str | None, Meta(description="What a person from the team first wrote in that conversation, if anyone did.")
    ] = None


class UnansweredList(msgspec.Struct):
    questions: list[UnansweredQuestion]


class KnowledgePath(msgspec.Struct):
    entry_id: PathId


class ImportFile(msgspec.Struct, kw_only=True):
    name: Annotated[
        str, Meta(max_length=200, description="The file's name (titles a Markdown file without a heading).")
    ]
    content: Annotated[str, Meta(max_length=IMPORT_FILE_CHARS, description="The file's text (UTF-8).")]


class KnowledgeImport(msgspec.Struct, kw_only=True):
    """Markdown files (one entry each, titled by the first heading) or one CSV file (one entry per row)."""

    format: Literal["markdown", "csv"]
    files: Annotated[list[ImportFile], Meta(min_length=1, max_length=IMPORT_FILES)]
    language: Annotated[Language, Meta(description="For entries that do not name theirs (CSV may, per row).")] = "en"
    enabled: bool = True


class ImportResult(msgspec.Struct):
    created: int
    entries: list[KnowledgeEntry]


def _columns(body: KnowledgeRequest | KnowledgeChange) -> dict[str, Any]:
    values = {name: getattr(body, name) for name in ("title", "body", "url", "language", "enabled")}
    return {
        name: value.strip() if isinstance(value, str) else value for name, value in values.items() if value is not UNSET
    }


async def list_all(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, KNOWLEDGE_MANAGE)
    async with services.engine.connect() as connection:
        found = await store.list_entries(connection, tenant.id)
    return StructResponse(KnowledgeList([KnowledgeEntry.of(entry) for entry in found]))


UNANSWERED_DAYS = 30
UNANSWERED_GROUPS = 20


async def unanswered(request: Request) -> Response:
    """The questions Bob could not answer, grouped by similar wording, most asked first."""
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, KNOWLEDGE_MANAGE)
    since = datetime.now(UTC) - timedelta(days=UNANSWERED_DAYS)
    async with services.engine.connect() as connection:
        groups = await store.unanswered_groups(connection, tenant.id, since, UNANSWERED_GROUPS)
        answers = [await store.agent_answer(connection, tenant.id, group.session_id) for group in groups]
    return StructResponse(
        UnansweredList(
            [
                UnansweredQuestion(
                    question=group.question,
                    count=group.count,
                    reason=group.reason,  # type: ignore[arg-type]  # stored as one of the two
                    last_asked_at=group.last_asked_at.isoformat(),
                    answer=answer,
                )
                for group, answer in zip(groups, answers, strict=True)
            ]
        )
    )


async def create(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, KNOWLEDGE_MANAGE)
    body = await read_body(request, KnowledgeRequest, KNOWLEDGE_BODY_BYTES)
    created = await _insert(services, tenant.id, [_columns(body)])
    return StructResponse(created[0], status_code=201)


async def read(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, KNOWLEDGE_MANAGE)
    async with services.engine.connect() as connection:
        entry = await store.get_entry(connection, tenant.id, read_path(request, KnowledgePath).entry_id)
    if entry is None:
        raise NotFound("no such knowledge entry in this tenant")
    return StructResponse(KnowledgeEntry.of(entry))


async def change(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, KNOWLEDGE_MANAGE)
    body = await read_body(request, KnowledgeChange, KNOWLEDGE_BODY_BYTES)
    entry_id = read_path(request, KnowledgePath).entry_id
    async with services.engine.begin() as connection:
        fields = _columns(body)
        if fields and not await store.update_entry(connection, tenant.id, entry_id, fields):
            raise NotFound("no such knowledge entry in this tenant")
        entry = await store.get_entry(connection, tenant.id, entry_id)
    if entry is None:
        raise NotFound("no such knowledge entry in this tenant")
    services.knowledge.changed(tenant.id)
    return StructResponse(KnowledgeEntry.of(entry))


async def remove(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, KNOWLEDGE_MANAGE)
    async with services.engine.begin() as connection:
        deleted = await store.delete_entry(connection, tenant.id, read_path(request, KnowledgePath).entry_id)
    if not deleted:
        raise NotFound("no such knowledge entry in this tenant")
    services.knowledge.changed(tenant.id)
    return Response(status_code=204)


async def bulk_import(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, KNOWLEDGE_MANAGE)
    body = await read_body(request, KnowledgeImport, IMPORT_BODY_BYTES)
    rows = _markdown_rows(body) if body.format == "markdown" else _csv_rows(body)
    created = await _insert(services, tenant.id, rows)
    return StructResponse(ImportResult(created=len(created), entries=created), status_code=201)


async def _insert(services: Services, tenant_id: str, rows: list[dict[str, Any]]) -> list[KnowledgeEntry]:
    async with services.engine.begin() as connection:
        if await store.count_entries(connection, tenant_id) + len(rows) > MAX_ENTRIES:
            raise Conflict(f"a tenant holds at most {MAX_ENTRIES} knowledge entries")
        ids = await store.insert_entries(connection, tenant_id, rows)
        found = await store.entries_by_id(connection, tenant_id, ids)
    services.knowledge.changed(tenant_id)
    return [KnowledgeEntry.of(found[entry_id]) for entry_id in ids]


HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(?P<title>.+?)\s*#*\s*$")


def _markdown_rows(body: KnowledgeImport) -> list[dict[str, Any]]:
    rows = []
    for file in body.files:
        lines = file.content.replace("\r\n", "\n").split("\n")
        title, text = None, lines
        for number, line in enumerate(lines):
            if found := HEADING.match(line):
                title, text = found["title"], lines[:number] + lines[number + 1 :]
                break
        if title is None:
            title = re.sub(r"\.(md|markdown|txt)$", "", file.name, flags=re.IGNORECASE).replace("_", " ").strip()
        rows.append(_checked(file.name, {"title": title, "body": "\n".join(text).strip()}, body))
    return rows


def _csv_rows(body: KnowledgeImport) -> list[dict[str, Any]]:
    if len(body.files) != 1:
        raise InvalidInput("'files': a CSV import is one file")
    (file,) = body.files
    reader = csv.DictReader(io.StringIO(file.content.lstrip("\ufeff")))
    header = {name.strip().lower() for name in reader.fieldnames or ()}
    if not {"title", "body"} <= header:
        raise InvalidInput(f"{file.name}: the header row must name the columns title and body")
    rows = []
    try:
        for number, raw in enumerate(reader, start=2):
            given = {(key or "").strip().lower(): (value or "").strip() for key, value in raw.items() if key}
            row: dict[str, Any] = {"title": given.get("title", ""), "body": given.get("body", "")}
            if given.get("url"):
                row["url"] = given["url"]
            if given.get("language"):
                row["language"] = given["language"].lower()
            if given.get("enabled"):
                row["enabled"] = given["enabled"].lower() not in ("0", "false", "no", "off")
            rows.append(_checked(f"{file.name} row {number}", row, body))
    except csv.Error as exc:
        raise InvalidInput(f"{file.name}: not CSV ({exc})") from None
    return rows


def _checked(where: str, row: dict[str, Any], body: KnowledgeImport) -> dict[str, Any]:
    """One entry of an import, checked by the same model as a single one."""
    try:
        entry = msgspec.convert({"language": body.language, "enabled": body.enabled, **row}, KnowledgeRequest)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"{where}: {field_message(exc)}") from None
    return _columns(entry)
