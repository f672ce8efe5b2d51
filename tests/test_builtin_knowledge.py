"""The built-in responder answers from the tenant's knowledge, in the visitor's language, never lets a
greeting shadow a question, and offers a person when nothing answers (a "yes" hands the visitor over)."""

from __future__ import annotations

from typing import Any

from hub.ai.base import ChatTurn, Passage, ReplyRequest
from hub.ai.builtin import compose
from hub.knowledge.language import detect_language
from tests.conftest import RunningHub, visitor
from tests.test_handoff import handoff_message
from tests.test_knowledge import client_for
from tests.test_pricebook import platform

EBIKES = {
    "title": "Electric bikes",
    "body": "Yes, we **repair** e-bikes of Bosch and Shimano systems. E-bike service starts at $70.",
    "url": "https://bikes.example.com/ebikes",
    "language": "en",
}
CENNIK = {
    "title": "Cennik napraw",
    "body": "Naprawa przebitej dętki kosztuje 60 zł, przegląd 180 zł. Dokładną cenę naprawy podamy po obejrzeniu.",
    "language": "pl",
}


async def tenant_with(hub: RunningHub, *entries: dict[str, Any], **config: Any) -> str:
    tenant = await hub.tenant(**config)
    async with await client_for(hub, tenant.id) as client:
        for entry in entries:
            assert (await client.post("/api/knowledge", json=entry)).status_code == 201
    return tenant.id


async def ask(hub: RunningHub, tenant_id: str, *messages: str) -> list[str]:
    replies = []
    async with visitor(hub.ws, tenant_id) as client:
        for message in messages:
            await client.say(message)
            replies.append((await client.ai_reply())[-1]["text"])
    return replies


async def test_a_visitor_who_greets_and_asks_gets_the_answer_from_the_knowledge_not_a_greeting(hub: RunningHub) -> None:
    tenant_id = await tenant_with(hub, EBIKES, CENNIK)
    (reply,) = await ask(hub, tenant_id, "Hi! Do you repair e-bikes?")
    assert reply.startswith("Yes, we repair e-bikes of Bosch"), reply
    assert "**" not in reply, "Markdown marks are not shown as text"
    assert "How can I help" not in reply


async def test_a_polish_visitor_is_answered_in_polish(hub: RunningHub) -> None:
    tenant_id = await tenant_with(hub, EBIKES, CENNIK)
    greeting, question = await ask(hub, tenant_id, "Cześć!", "Cześć, ile kosztuje naprawa?")
    assert greeting == "Cześć! Jestem Bob, asystent Acme Test. W czym mogę pomóc?"
    assert question.startswith("Naprawa przebitej dętki kosztuje 60 zł"), question
    (unknown,) = await ask(hub, await tenant_with(hub), "Cześć, ile kosztuje naprawa?")
    assert unknown.startswith("Nie jestem tego pewien") and '"człowiek"' in unknown


async def test_the_widget_language_decides_when_the_words_do_not(hub: RunningHub) -> None:
    tenant_id = await tenant_with(hub, language="pl")
    (reply,) = await ask(hub, tenant_id, "ok")
    assert reply == "Proszę bardzo! Czy mogę pomóc w czymś jeszcze?"
    assert detect_language(["Hello"], "pl") == "en" and detect_language(["ok"], "auto") == "en"
    assert detect_language(["Dzień dobry, czy jest ktoś?"], "en") == "pl"


async def test_a_question_nothing_answers_offers_a_person_and_yes_hands_the_visitor_over(hub: RunningHub) -> None:
    tenant_id = await tenant_with(hub, EBIKES)
    async with visitor(hub.ws, tenant_id) as client:
        await client.say("Hello, I need help with my order")
        offer = (await client.ai_reply())[-1]["text"]
        assert "not sure" in offer and '"human"' in offer, "no knowledge on orders: a person is offered"
        await client.say("yes please")
        frames = await client.until(handoff_message, timeout=10)
    reply = next(f for f in frames if f["type"] == "message" and f["role"] == "ai")
    assert "let the team" in reply["text"]


async def test_the_next_reply_answers_from_knowledge_changed_a_moment_ago(hub: RunningHub) -> None:
    tenant_id = await tenant_with(hub)
    async with visitor(hub.ws, tenant_id) as client:
        await client.say("Do you repair e-bikes?")
        assert "not sure" in (await client.ai_reply())[-1]["text"]
        async with await client_for(hub, tenant_id) as portal:
            assert (await portal.post("/api/knowledge", json=EBIKES)).status_code == 201
        await client.say("Do you repair e-bikes?")
        assert (await client.ai_reply())[-1]["text"].startswith("Yes, we repair e-bikes")


async def test_on_the_platforms_site_a_greeting_does_not_shadow_the_pricebook(hub: RunningHub) -> None:
    (reply,) = await ask(hub, (await platform(hub)).id, "Hi! How much does the Pro plan cost?")
    assert "Pro $249/month" in reply


def test_compose_answers_each_part_of_a_message_and_never_quotes_a_weak_match() -> None:
    def request(text: str, *passages: Passage) -> ReplyRequest:
        return ReplyRequest(
            business="Spoke",
            persona="Bob",
            system_prompt="",
            greeting="Hi! I'm Bob.",
            history=(ChatTurn("visitor", text),),
            passages=passages,
        )

    strong = Passage("Electric bikes", "We service e-bikes.", None, 0.8)
    weak = Passage("Pickup", "Order it when you book.", None, 0.3)
    assert compose(request("Hello! Do you service e-bikes?", strong)).text == "We service e-bikes."
    assert "not sure" in compose(request("Hello, I need help with my order", weak)).text
    assert compose(request("hello")).text == "Hi! I'm Bob."
    assert compose(request("Can I talk to a person?", strong)).wants_person


async def test_what_bob_could_not_answer_is_listed_grouped_with_the_teams_answer(hub: RunningHub) -> None:
    tenant_id = await tenant_with(hub, EBIKES)
    other_id = await tenant_with(hub)
    sessions = []
    for question in ("Do you sell helmets?", "do you sell a helmet", "Hi! Do you repair e-bikes?", "hello", "thanks"):
        async with visitor(hub.ws, tenant_id) as client:
            await client.say(question)
            await client.ai_reply()
            sessions.append(client.ready["session_id"])
    async with visitor(hub.ws, tenant_id) as client:
        await client.say("Can I talk to a human?")
        await client.until(handoff_message, timeout=10)
    async with visitor(hub.ws, tenant_id) as client:
        await client.say("Where can I park?")
        await client.ai_reply()
        await client.say("yes")  # accepts the offered person: the question ended with a person
        await client.until(handoff_message, timeout=10)
    async with await client_for(hub, tenant_id) as portal:
        answered = await portal.post("/api/chat/message", json={"session_id": sessions[1], "message": "Yes: $30."})
        assert answered.status_code == 200
        listed = (await portal.get("/api/knowledge/unanswered")).json()["questions"]
    assert [(q["question"], q["count"], q["reason"]) for q in listed] == [
        ("do you sell a helmet", 2, "no_knowledge"),
        ("Where can I park?", 1, "no_knowledge"),
    ], "answered questions, greetings, thanks and bare requests for a person are not listed"
    assert listed[0]["answer"] == "Yes: $30." and listed[1]["answer"] is None
    async with await client_for(hub, other_id) as other:
        assert (await other.get("/api/knowledge/unanswered")).json() == {"questions": []}
