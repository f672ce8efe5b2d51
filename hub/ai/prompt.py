"""What a model is told for one reply, built in this one place: persona, the business's facts, the
knowledge passages found for the question, and the conversation so far, within a token budget.

The messages are:

1. one ``system`` message: the persona's instructions (tone included); the business's facts (its
   name, its office hours when the tenant states them, the published plans on the platform's own
   site); the language to answer in; then the knowledge passages, numbered ``[1]``, ``[2]`` … with
   their titles and links, and the rule to answer from them and cite them by number (or, with none,
   not to guess and to offer a person);
2. the conversation, oldest first, visitors as ``user``, the AI and agents as ``assistant`` (the hub's
   own notices left out: they are not instructions).

The budget (``HUB_AI_PROMPT_TOKENS``) is counted as ``ceil(characters / 4)`` per text, the usual
rule of thumb for English and close enough for Polish: no tokenizer is downloaded. The persona and
facts always go in; passages go in best first while they fit (one that does not fit is cut, so the
best passage is never lost to a long one); the conversation goes in newest first while it fits, and
the newest visitor message always does.
"""

from __future__ import annotations

import math
import re
from typing import Any

from hub.ai.base import Passage, ReplyRequest

ROLE_MAP = {"visitor": "user", "ai": "assistant", "agent": "assistant"}
LANGUAGE_NAMES = {"en": "English", "pl": "Polish"}
HISTORY_TURNS = 20
PASSAGE_SHARE = 0.6  # of what the budget leaves after the persona and facts, at most this much is knowledge
MIN_PASSAGE_TOKENS = 60
CITATION = re.compile(r"\[(\d{1,2})\]")


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def system_prompt(request: ReplyRequest, passages: tuple[Passage, ...]) -> str:
    parts = [request.system_prompt.strip(), _facts(request)]
    if passages:
        numbered = "\n\n".join(_passage(number, passage) for number, passage in enumerate(passages, 1))
        parts.append(
            f"Knowledge of {request.business} found for this question:\n\n{numbered}\n\n"
            "Answer from this knowledge when it answers the question, and cite each passage you use by its "
            "number in brackets, like [1]. If it does not answer the question, say you are not sure and offer "
            "to bring in a person from the team; never invent facts."
        )
    else:
        parts.append(
            f"No knowledge of {request.business} matched this question. If it needs facts about the business, "
            "say you are not sure and offer to bring in a person from the team; never invent facts."
        )
    return "\n\n".join(part for part in parts if part)


def _facts(request: ReplyRequest) -> str:
    facts = [f"You speak for {request.business}."]
    if request.office_hours:
        facts.append(f"Office hours: {request.office_hours}.")
    if request.plans:
        plans = "; ".join(
            f"{plan.name} ${plan.price_usd_month:,}/month with {plan.ai_credits_month:,} AI credits"
            for plan in request.plans
        )
        facts.append(f"The plans, from the published pricebook: {plans}.")
    language = LANGUAGE_NAMES.get(request.language, "English")
    facts.append(f"The visitor writes in {language}: answer in {language}.")
    return " ".join(facts)


def _passage(number: int, passage: Passage) -> str:
    heading = f"[{number}] {passage.title}" + (f" ({passage.url})" if passage.url else "")
    return f"{heading}\n{passage.body.strip()}"


def fitted_passages(request: ReplyRequest, budget: int) -> tuple[Passage, ...]:
    """The passages that fit the knowledge's share of the budget, best first; the last one that fits
    only in part is cut to what is left."""
    core = tokens(request.system_prompt) + tokens(_facts(request)) + 80  # 80: the rules around the passages
    left = int(max(0, budget - core) * PASSAGE_SHARE)
    kept: list[Passage] = []
    for passage in request.passages:
        cost = tokens(passage.title) + tokens(passage.url or "") + tokens(passage.body) + 4
        if cost <= left:
            kept.append(passage)
            left -= cost
        elif left >= MIN_PASSAGE_TOKENS:
            kept.append(Passage(passage.title, passage.body[: (left - 10) * 4].rstrip() + "…", passage.url))
            break
        else:
            break
    return tuple(kept)


def chat_messages(request: ReplyRequest, budget: int) -> tuple[list[dict[str, Any]], tuple[Passage, ...]]:
    """The messages for the model, and the passages they number (``[1]`` is the first)."""
    passages = fitted_passages(request, budget)
    system = system_prompt(request, passages)
    left = budget - tokens(system)
    # Stored "system" turns are hub notices (e.g. "the AI could not answer"), not instructions: sent as
    # system messages they would steer the model, and strict chat templates reject a second system turn.
    turns = [turn for turn in request.history if turn.role != "system"][-HISTORY_TURNS:]
    kept: list[dict[str, Any]] = []
    for position, turn in enumerate(reversed(turns)):
        cost = tokens(turn.text) + 4
        if position > 0 and cost > left:
            break
        kept.append({"role": ROLE_MAP.get(turn.role, "user"), "content": turn.text})
        left -= cost
    return [{"role": "system", "content": system}, *reversed(kept)], passages


def cited(text: str, passages: tuple[Passage, ...]) -> tuple[Passage, ...]:
    """The passages a reply cites by number, in the order first cited, each once."""
    found: dict[int, Passage] = {}
    for match in CITATION.finditer(text):
        number = int(match.group(1))
        if 1 <= number <= len(passages) and number not in found:
            found[number] = passages[number - 1]
    return tuple(found.values())
