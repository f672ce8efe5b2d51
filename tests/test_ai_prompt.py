"""What the model is told for one reply (hub/ai/prompt.py): persona, facts, knowledge passages and the
conversation, within the token budget; the passages a reply cites become its sources, stored with it,
sent in its message frame and replayed with the history."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from hub.ai.base import ChatTurn, Passage, ReplyRequest
from hub.ai.prompt import chat_messages, cited, tokens
from hub.chat.replies import reply_request
from hub.plans import Plan
from hub.settings import Settings
from hub.store.models import Tenant
from tests.conftest import RunningHub, serve_hub, visitor
from tests.fake_openai import Behaviour, FakeOpenAI, fake_openai
from tests.test_builtin_knowledge import EBIKES, tenant_with

PASSAGES = (
    Passage("Electric bikes", "We service **e-bikes**. From $70.", "https://bikes.example.com/ebikes", 0.9),
    Passage("Opening hours", "Mon-Fri 9-18.", None, 0.6),
)
CONVERSATION = (
    ChatTurn("visitor", "hello"),
    ChatTurn("ai", "Hi! How can I help?"),
    ChatTurn("system", "The AI could not answer."),
    ChatTurn("visitor", "Do you repair e-bikes, and when are you open?"),
)


def request(**changes: object) -> ReplyRequest:
    base = ReplyRequest(
        business="Spoke & Chain",
        persona="Ada",
        system_prompt="You are Ada, the assistant of Spoke & Chain.\n\nTone: warm.",
        greeting="Hi!",
        history=CONVERSATION,
        passages=PASSAGES,
        language="en",
        office_hours="Mon-Fri 9-18",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_what_the_model_is_told_for_a_conversation() -> None:
    messages, numbered = chat_messages(request(), 3000)
    assert numbered == PASSAGES
    assert messages == [
        {
            "role": "system",
            "content": "You are Ada, the assistant of Spoke & Chain.\n\nTone: warm.\n\n"
            "You speak for Spoke & Chain. Office hours: Mon-Fri 9-18. The visitor writes in English: answer in "
            "English.\n\n"
            "Knowledge of Spoke & Chain found for this question:\n\n"
            "[1] Electric bikes (https://bikes.example.com/ebikes)\nWe service **e-bikes**. From $70.\n\n"
            "[2] Opening hours\nMon-Fri 9-18.\n\n"
            "Answer from this knowledge when it answers the question, and cite each passage you use by its number "
            "in brackets, like [1]. If it does not answer the question, say you are not sure and offer to bring in "
            "a person from the team; never invent facts.",
        },
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "Hi! How can I help?"},
        {"role": "user", "content": "Do you repair e-bikes, and when are you open?"},
    ]


def test_a_polish_visitor_on_the_platforms_site_is_told_the_plans_and_the_language() -> None:
    plans = (
        Plan(
            id="pro",
            name="Pro",
            price_usd_month=249,
            ai_credits_month=75_000,
            seats=10,
            integrations=3,
            support="priority",
        ),
    )
    (system, *_), _ = chat_messages(request(language="pl", plans=plans, passages=()), 3000)
    assert "The plans, from the published pricebook: Pro $249/month with 75,000 AI credits." in system["content"]
    assert "answer in Polish" in system["content"]
    assert "No knowledge of Spoke & Chain matched this question" in system["content"]


def test_the_budget_keeps_the_persona_the_best_passage_and_the_newest_message() -> None:
    long_history = tuple(ChatTurn("visitor" if n % 2 else "ai", f"message {n} " + "x" * 400) for n in range(40))
    long_passage = Passage("Manual", "word " * 5000, None, 0.9)
    messages, numbered = chat_messages(request(history=long_history, passages=(long_passage, *PASSAGES)), 1000)
    assert sum(tokens(message["content"]) for message in messages) <= 1000 + 4 * len(messages)
    assert messages[0]["content"].startswith("You are Ada")
    assert numbered[0].title == "Manual" and numbered[0].body.endswith("…"), "the best passage is cut, not dropped"
    assert messages[-1]["content"] == long_history[-1].text, "the newest message always goes in"
    assert len(messages) < 1 + len(long_history)


def test_a_reply_cites_passages_by_number() -> None:
    assert cited("From $70 [1]. We open at 9 [2][1]. [7]", PASSAGES) == PASSAGES
    assert cited("No idea.", PASSAGES) == ()


@pytest.fixture
async def openai_hub(settings: Settings) -> AsyncIterator[tuple[RunningHub, FakeOpenAI]]:
    async with fake_openai() as fake:
        configured = dataclasses.replace(settings, ai_provider="openai", openai_base_url=fake.base_url)
        async with serve_hub(configured) as running:
            yield running, fake


async def test_the_model_answers_from_knowledge_and_its_sources_come_with_the_reply(
    openai_hub: tuple[RunningHub, FakeOpenAI],
) -> None:
    hub, fake = openai_hub
    tenant_id = await tenant_with(hub, EBIKES)
    fake.behaviour = Behaviour(tokens=("Yes, e-bike", " service starts", " at $70 [1]."))
    async with visitor(hub.ws, tenant_id) as client:
        await client.say("Hi! Do you repair e-bikes?")
        final = (await client.ai_reply())[-1]
        session_id, token = client.ready["session_id"], client.ready["resume_token"]
    assert final["sources"] == [{"title": "Electric bikes", "url": "https://bikes.example.com/ebikes"}]
    system = (await fake.request(1)).messages[0]["content"]
    assert "[1] Electric bikes (https://bikes.example.com/ebikes)" in system
    async with visitor(hub.ws, tenant_id, query=f"session_id={session_id}&resume_token={token}&last_seq=0") as again:
        replayed = [await again.recv(), await again.recv()]
    assert replayed[1]["sources"] == final["sources"], "sources are stored with the message"
    fake.behaviour = Behaviour(tokens=("I am not sure.",))
    async with visitor(hub.ws, tenant_id) as client:
        await client.say("Do you sell anvils?")
        assert "sources" not in (await client.ai_reply())[-1], "a reply citing nothing has no sources"


async def test_the_built_in_responders_quoted_entry_is_its_source(hub: RunningHub) -> None:
    tenant_id = await tenant_with(hub, EBIKES)
    async with visitor(hub.ws, tenant_id) as client:
        await client.say("Do you repair e-bikes?")
        final = (await client.ai_reply())[-1]
    assert final["sources"] == [{"title": "Electric bikes", "url": "https://bikes.example.com/ebikes"}]


def test_the_tenants_office_hours_setting_is_what_the_model_is_told() -> None:
    hours = {
        "time_zone": "Europe/Warsaw",
        "mon": [{"opens": "09:00", "closes": "17:00"}],
        "sat": [{"opens": "10:00", "closes": "12:00"}, {"opens": "13:00", "closes": "14:00"}],
    }
    tenant = Tenant(
        id="t-1", business_id="spoke", name="Spoke & Chain", origins=(), config={"settings": {"office_hours": hours}}
    )
    told = reply_request(tenant, None, None, CONVERSATION)
    assert told.office_hours == (
        "Mon 09:00-17:00; Tue closed; Wed closed; Thu closed; Fri closed; Sat 10:00-12:00, 13:00-14:00; "
        "Sun closed (Europe/Warsaw)"
    )
    assert f"Office hours: {told.office_hours}." in chat_messages(told, 3000)[0][0]["content"]
    without = Tenant(id="t-2", business_id="plain", name="Plain", origins=(), config={})
    assert reply_request(without, None, None, CONVERSATION).office_hours is None
