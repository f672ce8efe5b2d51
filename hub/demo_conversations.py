"""``--demo``: labels for every demo tenant, and a few conversations of the Business Demo carrying them, so
Mission Control's filter bar has labels to pick and a conversation to find by each on the first run.

Written once: labels when the tenant has none, conversations when it has none (a restart, or a tenant whose
visitors already wrote, gets nothing new). Stored as any conversation is (the message writer), in AI mode,
their visitors away; in English and in Polish, as the demo's knowledge is.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.chat.identity import new_session_id
from hub.store.labels import create_label, list_labels, set_session_label
from hub.store.tables import chat_sessions
from hub.store.writer import MessageWriter

DEMO_LABELS = (("Billing", "blue"), ("Repair", "orange"), ("VIP", "purple"), ("Reklamacja", "red"))


@dataclass(frozen=True)
class DemoConversation:
    messages: tuple[tuple[str, str], ...]  # (role, text), in order
    labels: tuple[str, ...]  # names of DEMO_LABELS


DEMO_CONVERSATIONS: dict[str, tuple[DemoConversation, ...]] = {
    "business": (
        DemoConversation(
            (
                ("visitor", "Hi, I was charged twice for my March invoice. Could someone check it, please?"),
                ("ai", "I'm sorry about that! I've noted it for the team: a person will check your invoice shortly."),
            ),
            ("Billing", "VIP"),
        ),
        DemoConversation(
            (
                ("visitor", "Dzień dobry, ekspres do kawy przestał grzać po tygodniu. Jak zgłosić reklamację?"),
                ("ai", "Przykro mi! Reklamację przyjmie osoba z zespołu: proszę podać numer zamówienia."),
            ),
            ("Repair", "Reklamacja"),
        ),
        DemoConversation(
            (
                ("visitor", "Do you repair e-bikes with a Bosch motor?"),
                ("ai", "Yes, we repair and service e-bikes, Bosch motors included."),
            ),
            ("Repair",),
        ),
    ),
}


async def seed_demo_conversations(engine: AsyncEngine, tenant_id: str, business_id: str) -> None:
    """The demo's labels and conversations for one demo tenant, unless it has labels or conversations already."""
    ids = {label.name: label.id for label in await list_labels(engine, tenant_id)}
    if not ids:
        for name, color in DEMO_LABELS:
            ids[name] = (await create_label(engine, tenant_id, name, color)).id
    conversations = DEMO_CONVERSATIONS.get(business_id, ())
    if not conversations or await _has_conversations(engine, tenant_id):
        return
    writer = MessageWriter(engine)
    writer.start()
    try:
        for conversation in conversations:
            session_id = new_session_id()
            for role, text in conversation.messages:
                await writer.append(tenant_id, session_id, role, text)
            for name in conversation.labels:
                if name in ids:  # an owner renamed or deleted it: the conversation goes without it
                    await set_session_label(engine, tenant_id, session_id, ids[name], True)
    finally:
        await writer.stop()


async def _has_conversations(engine: AsyncEngine, tenant_id: str) -> bool:
    async with engine.connect() as connection:
        query = select(chat_sessions.c.id).where(chat_sessions.c.tenant_id == tenant_id).limit(1)
        return await connection.scalar(query) is not None
