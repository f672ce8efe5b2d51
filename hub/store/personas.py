"""Personas: how Bob speaks for a tenant. Exactly one is active per tenant; every tenant starts with one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.errors import Conflict, NotFound
from hub.store.tables import personas

DEFAULT_TONE = "friendly, clear and brief"
# The longest text each field holds (the API's models state these limits, a default persona is cut to them).
NAME_CHARS = 60
DESCRIPTION_CHARS = 500
TONE_CHARS = 100
PROMPT_CHARS = 8000


@dataclass(frozen=True)
class Persona:
    id: str
    tenant_id: str
    name: str
    description: str
    tone: str
    system_prompt: str
    active: bool
    created_at: datetime
    updated_at: datetime


def default_system_prompt(persona_name: str, business: str) -> str:
    return (
        f"You are {persona_name}, the AI front-office assistant of {business}. Answer briefly and kindly. If you do "
        "not know the answer, say so and offer to bring in a person from the team; never invent prices, dates or "
        "promises."
    )


def _persona(row: Any) -> Persona:
    return Persona(
        row.id,
        row.tenant_id,
        row.name,
        row.description,
        row.tone,
        row.system_prompt,
        row.active,
        row.created_at,
        row.updated_at,
    )


async def insert_default_persona(
    connection: AsyncConnection, tenant_id: str, business: str, config: dict[str, Any]
) -> None:
    """A new tenant's first, active persona (from the tenant's config where it names one)."""
    given = config.get("persona") or {}
    name = str(given.get("name") or "Bob")[:NAME_CHARS]
    now = datetime.now(UTC)
    await connection.execute(
        personas.insert().values(
            id=str(uuid.uuid4()),
            tenant_id=tenant_id,
            name=name,
            description=str(given.get("description") or f"The AI front-office assistant of {business}")[
                :DESCRIPTION_CHARS
            ],
            tone=str(given.get("tone") or (DEFAULT_TONE if not given.get("systemPrompt") else ""))[:TONE_CHARS],
            system_prompt=str(given.get("systemPrompt") or default_system_prompt(name, business))[:PROMPT_CHARS],
            active=True,
            created_at=now,
            updated_at=now,
        )
    )


async def list_personas(engine: AsyncEngine, tenant_id: str) -> list[Persona]:
    query = select(personas).where(personas.c.tenant_id == tenant_id).order_by(personas.c.created_at, personas.c.id)
    async with engine.connect() as connection:
        return [_persona(row) for row in await connection.execute(query)]


async def get_persona(engine: AsyncEngine, tenant_id: str, persona_id: str) -> Persona | None:
    query = select(personas).where(personas.c.tenant_id == tenant_id, personas.c.id == persona_id)
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    return _persona(row) if row is not None else None


async def active_persona(connection: AsyncConnection, tenant_id: str) -> Persona | None:
    query = select(personas).where(personas.c.tenant_id == tenant_id, personas.c.active.is_(True))
    row = (await connection.execute(query)).first()
    return _persona(row) if row is not None else None


async def create_persona(engine: AsyncEngine, tenant_id: str, fields: dict[str, Any], activate: bool) -> Persona:
    try:
        return await _create_persona(engine, tenant_id, fields, activate)
    except IntegrityError:
        raise Conflict("another persona was activated at the same moment; retry") from None


async def _create_persona(engine: AsyncEngine, tenant_id: str, fields: dict[str, Any], activate: bool) -> Persona:
    now = datetime.now(UTC)
    persona_id = str(uuid.uuid4())
    async with engine.begin() as connection:
        if activate:
            await _deactivate_all(connection, tenant_id)
        await connection.execute(
            personas.insert().values(
                id=persona_id, tenant_id=tenant_id, active=activate, created_at=now, updated_at=now, **fields
            )
        )
    created = await get_persona(engine, tenant_id, persona_id)
    assert created is not None
    return created


async def update_persona(
    engine: AsyncEngine, tenant_id: str, persona_id: str, fields: dict[str, Any], activate: bool
) -> Persona | None:
    try:
        return await _update_persona(engine, tenant_id, persona_id, fields, activate)
    except IntegrityError:
        raise Conflict("another persona was activated at the same moment; retry") from None


async def _update_persona(
    engine: AsyncEngine, tenant_id: str, persona_id: str, fields: dict[str, Any], activate: bool
) -> Persona | None:
    async with engine.begin() as connection:
        if activate:
            await _deactivate_all(connection, tenant_id, keep=persona_id)
        values = {**fields, "updated_at": datetime.now(UTC)}
        if activate:
            values["active"] = True
        result = await connection.execute(
            update(personas).where(personas.c.tenant_id == tenant_id, personas.c.id == persona_id).values(**values)
        )
        if not result.rowcount:
            raise NotFound("no such persona in this tenant")  # leaving the block rolls the deactivation back
    return await get_persona(engine, tenant_id, persona_id)


async def delete_persona(engine: AsyncEngine, tenant_id: str, persona_id: str) -> bool:
    async with engine.begin() as connection:
        query = select(personas.c.active).where(personas.c.tenant_id == tenant_id, personas.c.id == persona_id)
        active = (await connection.execute(query)).scalar()
        if active is None:
            return False
        if active:
            raise Conflict("the active persona cannot be deleted; activate another one first")
        await connection.execute(
            personas.delete().where(personas.c.tenant_id == tenant_id, personas.c.id == persona_id)
        )
    return True


async def _deactivate_all(connection: AsyncConnection, tenant_id: str, keep: str | None = None) -> None:
    statement = update(personas).where(personas.c.tenant_id == tenant_id, personas.c.active.is_(True))
    if keep is not None:
        statement = statement.where(personas.c.id != keep)
    await connection.execute(statement.values(active=False))
