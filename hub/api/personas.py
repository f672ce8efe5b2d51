"""``/api/personas``: a tenant's personas (``personas.manage``); field names as the product page spells them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType
from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse, read_body, read_path
from hub.api.models import PathId, Timestamp
from hub.api.tenancy import managed_tenant
from hub.auth.permissions import PERSONAS_MANAGE
from hub.errors import NotFound
from hub.node import Services
from hub.store import personas as store
from hub.store.personas import DESCRIPTION_CHARS, NAME_CHARS, PROMPT_CHARS, TONE_CHARS

PERSONA_BODY_BYTES = 32 * 1024

Name = Annotated[
    str,
    Meta(min_length=1, max_length=NAME_CHARS, pattern=r"\S", description="How Bob is called; the widget shows it."),
]
Description = Annotated[str, Meta(max_length=DESCRIPTION_CHARS)]
Tone = Annotated[str, Meta(max_length=TONE_CHARS, description="e.g. friendly, clear and brief.")]
SystemPrompt = Annotated[
    str, Meta(min_length=1, max_length=PROMPT_CHARS, pattern=r"\S", description="What the AI is told to be and do.")
]
# body field -> column; the values are stored without surrounding blanks
COLUMNS = {"name": "name", "description": "description", "tone": "tone", "system_prompt": "system_prompt"}


class PersonaRequest(msgspec.Struct, kw_only=True):
    """How Bob speaks for the tenant: name, description, tone, systemPrompt."""

    name: Name
    description: Description = ""
    tone: Tone = ""
    system_prompt: SystemPrompt = msgspec.field(name="systemPrompt")
    active: Annotated[bool, Meta(description="true: this becomes the tenant's active persona.")] = False


class PersonaChange(msgspec.Struct, kw_only=True):
    """The fields to change (PUT and PATCH alike); the others stay as they are."""

    name: Name | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    tone: Tone | UnsetType = UNSET
    system_prompt: SystemPrompt | UnsetType = msgspec.field(default=UNSET, name="systemPrompt")
    active: (
        Annotated[
            Literal[True],
            Meta(
                description="Make this the tenant's active persona. Only true: a persona stops being active "
                "when another one is activated."
            ),
        ]
        | UnsetType
    ) = UNSET


class Persona(msgspec.Struct, kw_only=True):
    id: str
    name: str
    description: str
    tone: str
    system_prompt: str = msgspec.field(name="systemPrompt")
    active: Annotated[bool, Meta(description="Exactly one persona of a tenant is active.")]
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, persona: store.Persona) -> Persona:
        return cls(
            id=persona.id,
            name=persona.name,
            description=persona.description,
            tone=persona.tone,
            system_prompt=persona.system_prompt,
            active=persona.active,
            created_at=persona.created_at.isoformat(),
            updated_at=persona.updated_at.isoformat(),
        )


class PersonaList(msgspec.Struct):
    personas: list[Persona]


class PersonaPath(msgspec.Struct):
    persona_id: PathId


def _columns(body: PersonaRequest | PersonaChange) -> dict[str, Any]:
    """The fields sent, by column."""
    values = {column: getattr(body, field) for field, column in COLUMNS.items()}
    return {column: value.strip() for column, value in values.items() if value is not UNSET}


async def _changed(services: Services, tenant_id: str, *, widgets: bool) -> None:
    """Every node drops its caches of the tenant at once (AI replies speak as the active persona from the next
    one); ``widgets``: the active persona or its name changed, which every open widget shows within seconds."""
    services.forget_tenant(tenant_id)
    if widgets:
        await services.widgets.announce(tenant_id)


async def list_all(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, PERSONAS_MANAGE)
    found = await store.list_personas(services.engine, tenant.id)
    return StructResponse(PersonaList([Persona.of(persona) for persona in found]))


async def create(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, PERSONAS_MANAGE)
    body = await read_body(request, PersonaRequest, PERSONA_BODY_BYTES)
    persona = await store.create_persona(services.engine, tenant.id, _columns(body), body.active)
    await _changed(services, tenant.id, widgets=persona.active)
    return StructResponse(Persona.of(persona), status_code=201)


async def read(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, PERSONAS_MANAGE)
    persona = await store.get_persona(services.engine, tenant.id, read_path(request, PersonaPath).persona_id)
    if persona is None:
        raise NotFound("no such persona in this tenant")
    return StructResponse(Persona.of(persona))


async def change(request: Request) -> Response:
    """PUT and PATCH: the fields sent are changed; ``"active": true`` makes it the tenant's active persona."""
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, PERSONAS_MANAGE)
    body = await read_body(request, PersonaChange, PERSONA_BODY_BYTES)
    persona_id = read_path(request, PersonaPath).persona_id
    persona = await store.update_persona(services.engine, tenant.id, persona_id, _columns(body), body.active is True)
    if persona is None:
        raise NotFound("no such persona in this tenant")
    await _changed(services, tenant.id, widgets=persona.active and (body.active is True or body.name is not UNSET))
    return StructResponse(Persona.of(persona))


async def remove(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await managed_tenant(request, services, PERSONAS_MANAGE)
    if not await store.delete_persona(services.engine, tenant.id, read_path(request, PersonaPath).persona_id):
        raise NotFound("no such persona in this tenant")
    return Response(status_code=204)
