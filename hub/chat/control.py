"""Agents stepping in: takeover, handback, close, and the claims that make one agent the owner.

A takeover claims the session's Redis key first (so two agents on two nodes cannot both win), then
records the owner and ``human`` mode in the store, then tells every node to cancel the AI reply
it may be streaming. Each node renews the claims of the agents connected to it; when a node dies
its claims lapse and another agent may take over without force.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.chat.announcements import AGENT_LEFT, CLOSED, HANDED_BACK, JOINED, say, session_language
from hub.chat.handoffs import Handoffs
from hub.chat.replies import ReplyRunner, assistant_name
from hub.chat.service import ChatService
from hub.coord.base import Coordinator
from hub.errors import NotOwner, OwnedByOther, SessionNotFound, Unavailable
from hub.keys import Keys
from hub.protocol import Owner, SessionChange
from hub.store.models import SessionState, Tenant
from hub.store.sessions import HandoffEnd, owned_sessions
from hub.store.transcript import get_session
from hub.store.writer import WriteResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Agent:
    """The person acting: what the chat core needs to know of a logged-in staff account."""

    id: str
    name: str
    email: str = ""
    # The name its takeover claims carry: the name the socket connected with, kept when the person renames
    # themself mid-connection, so the claims it holds and renews stay the same value ("" = ``name``).
    claim_name: str = ""

    @property
    def owner(self) -> Owner:
        return Owner(self.id, self.name)

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


def holder_of(agent: Agent) -> str:
    """A claim's value: the agent's id and name, so a refusal can name the owner without a query."""
    return f"{agent.id} {agent.claim_name or agent.name}"


def parse_holder(holder: str) -> tuple[str, str]:
    owner_id, _, name = holder.partition(" ")
    return owner_id, name


class SessionControl:
    def __init__(
        self,
        engine: AsyncEngine,
        chat: ChatService,
        replies: ReplyRunner,
        coord: Coordinator,
        keys: Keys,
        lock_ttl_s: float,
        agent_replied: Callable[[str, str], None] = lambda tenant_id, session_id: None,
        handoffs: Handoffs | None = None,
    ) -> None:
        self.engine = engine
        self.handoffs = handoffs or Handoffs(chat)
        self.agent_replied = agent_replied  # email continuity hears of each stored agent message (not awaited)
        self.chat = chat
        self.publisher = chat.publisher
        self.replies = replies
        self.coord = coord
        self.keys = keys
        self.ttl_ms = int(lock_ttl_s * 1000)
        self.renew_every_s = lock_ttl_s / 3
        # Claims this node renews, each with the agent connections holding it (their ids): a claim is renewed while
        # one of them holds it. A set, not a count: a connection holding it again (a second takeover after the
        # claim was lost with Redis's data, and dropped here) is one holder, never two.
        self._held: dict[tuple[str, str, str], set[int]] = {}
        # Claims this node took again after finding them gone from Redis: checked against the store once more on
        # the next round, held here or not, in case a handback or close let go of them in that moment (it
        # releases, then commits): then they are let go of, not left to lapse.
        self._reclaimed: set[tuple[str, str, str]] = set()

    async def _state(self, tenant_id: str, session_id: str) -> SessionState:
        state = await get_session(self.engine, tenant_id, session_id)
        if state is None:
            raise SessionNotFound("no such session in this tenant")
        return state

    def hold(self, tenant_id: str, session_id: str, holder: str, by: int) -> None:
        """Renew the claim while connection ``by`` holds it (holding it again changes nothing)."""
        self._held.setdefault((tenant_id, session_id, holder), set()).add(by)

    def unhold(self, tenant_id: str, session_id: str, holder: str, by: int) -> None:
        key = (tenant_id, session_id, holder)
        holding = self._held.get(key)
        if holding is not None:
            holding.discard(by)
            if not holding:
                del self._held[key]  # a claim taken again is still checked on the next round (_reclaimed)

    async def reclaim(self, tenant_id: str, agent: Agent, by: int) -> list[str]:
        """A reconnecting agent keeps the sessions it owns, unless another agent claimed one since."""
        holder = holder_of(agent)
        held = []
        for session_id in await owned_sessions(self.engine, tenant_id, agent.id):
            taken, _ = await self.coord.claim(self.keys.takeover_lock(tenant_id, session_id), holder, self.ttl_ms)
            if taken:
                self.hold(tenant_id, session_id, holder, by)
                held.append(session_id)
        return held

    async def takeover(
        self, tenant: Tenant, session_id: str, agent: Agent, *, force: bool = False, assign: bool = True
    ) -> None:
        """``assign``: a session assigned to nobody becomes the taker's (False for a platform admin visiting a
        tenant whose staff they are not)."""
        state = await self._state(tenant.id, session_id)
        holder = holder_of(agent)
        taken, previous = await self.coord.claim(
            self.keys.takeover_lock(tenant.id, session_id), holder, self.ttl_ms, force=force
        )
        if not taken:
            assert previous is not None
            raise OwnedByOther(*parse_holder(previous))
        if previous is not None and previous != holder:
            logger.warning(
                "agent %s (%s) forced the takeover of session %s from %s in tenant %s",
                agent.id,
                agent.email,
                session_id,
                parse_holder(previous)[0],
                tenant.id,
            )
        forced = previous is not None and previous != holder
        event = {"session_id": session_id, "agent": agent.json(), "forced": forced}
        change = SessionChange(id=session_id, mode="human", status="open", owner=agent.owner, waiting=None)
        ended = HandoffEnd("taken", agent.id) if state.waiting is not None else None
        await self.chat.change(
            tenant.id,
            session_id,
            change,
            ("session.takeover", event),
            ended=ended,
            assign_to=agent.owner if assign else None,
        )
        self.publisher.cancel_reply(tenant.id, session_id)
        if state.mode != "human" or state.owner_id != agent.id or state.status != "open":
            language = await session_language(self.engine, tenant, session_id)
            await self.chat.post(
                tenant.id,
                session_id,
                "system",
                say(language, JOINED, name=agent.name),
                meta={"event": "takeover", "author": agent.name},
            )

    async def _check_owner(self, tenant_id: str, state: SessionState, agent: Agent, force: bool) -> None:
        """Only the owner acts on a human-mode session (unless forced); a lapsed claim is anyone's."""
        if state.mode != "human" or state.owner_id in (None, agent.id) or force:
            return
        holder = await self.coord.holder(self.keys.takeover_lock(tenant_id, state.id))
        if holder is not None and parse_holder(holder)[0] != agent.id:
            raise OwnedByOther(*parse_holder(holder))
        raise NotOwner(f"{state.owner_name or 'another agent'} owns this session; take it over first")

    async def handback(self, tenant: Tenant, session_id: str, agent: Agent, *, force: bool = False) -> None:
        state = await self._state(tenant.id, session_id)
        await self._check_owner(tenant.id, state, agent, force)
        await self._release(tenant.id, session_id, state)
        event = ("session.handback", {"session_id": session_id, "agent": agent.json()})
        await self.chat.change(tenant.id, session_id, SessionChange(id=session_id, mode="ai", owner=None), event)
        if state.mode == "human":
            language = await session_language(self.engine, tenant, session_id)
            assistant = assistant_name(tenant, await self.replies.meter.persona(tenant.id))
            await self.chat.post(
                tenant.id,
                session_id,
                "system",
                say(language, HANDED_BACK, name=agent.name, assistant=assistant),
                meta={"event": "handback", "author": agent.name},
            )
        if self.replies.ai.answers:
            self.replies.request(tenant, session_id)  # answers only if the visitor's last line is unanswered

    async def close(self, tenant: Tenant, session_id: str, agent: Agent, *, force: bool = False) -> None:
        state = await self._state(tenant.id, session_id)
        await self._check_owner(tenant.id, state, agent, force)
        if state.status == "closed":
            return
        self.replies.cancel(tenant.id, session_id)
        self.publisher.cancel_reply(tenant.id, session_id)
        await self._release(tenant.id, session_id, state)
        change = SessionChange(id=session_id, mode="ai", status="closed", owner=None, waiting=None)
        event = ("session.closed", {"session_id": session_id, "agent": agent.json()})
        ended = HandoffEnd("missed") if state.waiting is not None else None  # closed before a person came
        await self.chat.change(tenant.id, session_id, change, event, ended=ended)
        language = await session_language(self.engine, tenant, session_id)
        await self.chat.post(
            tenant.id,
            session_id,
            "system",
            say(language, CLOSED, name=agent.name),
            meta={"event": "close", "author": agent.name},
        )

    async def release_departed(self, tenant: Tenant, agent: Agent) -> list[str]:
        """An agent was deactivated: each open conversation they had taken over goes back to the Waiting queue.

        Not handed to the AI as if nothing happened: someone took it over because a person was needed, so it
        waits for the next person (first in the queue, alerts and escalation as for any request), and the AI
        answers meanwhile only if the tenant's ``ai_while_waiting`` says so. The sessions released."""
        released = []
        for session_id in await owned_sessions(self.engine, tenant.id, agent.id):
            state = await self._state(tenant.id, session_id)
            await self._release(tenant.id, session_id, state)
            event = ("session.handback", {"session_id": session_id, "agent": agent.json(), "deactivated": True})
            await self.chat.change(tenant.id, session_id, SessionChange(id=session_id, mode="ai", owner=None), event)
            await self.handoffs.request(tenant, session_id, "agent_left", tell=AGENT_LEFT, name=agent.name)
            if self.replies.ai.answers:
                self.replies.request(tenant, session_id)  # only if the visitor's last line is unanswered, and allowed
            released.append(session_id)
        return released

    async def agent_message(
        self, tenant: Tenant, session_id: str, agent: Agent, text: str, client_id: str | None = None
    ) -> WriteResult:
        state = await self._state(tenant.id, session_id)
        await self._check_owner(tenant.id, state, agent, force=False)
        if state.mode == "human" and state.owner_id is None and state.transferred:  # handed over, not taken yet
            raise NotOwner("nobody holds this conversation since it was transferred; take it over first")
        result = await self.chat.post(
            tenant.id, session_id, "agent", text, client_id=client_id, meta={"author": agent.name}
        )
        if not result.message.duplicate:
            self.agent_replied(tenant.id, session_id)
        return result

    async def _release(self, tenant_id: str, session_id: str, state: SessionState) -> None:
        if state.owner_id is None:
            return
        key = self.keys.takeover_lock(tenant_id, session_id)
        holder = await self.coord.holder(key)
        if holder is not None and parse_holder(holder)[0] == state.owner_id:
            await self.coord.release(key, holder)

    async def run(self) -> None:
        """Heartbeat (supervised): renew every claim an agent connected here holds."""
        while True:
            await asyncio.sleep(self.renew_every_s)
            held = list(self._held)
            renewed: list[bool] = []
            if held:
                try:
                    renewed = await self.coord.renew(
                        [
                            (self.keys.takeover_lock(tenant_id, session_id), holder)
                            for tenant_id, session_id, holder in held
                        ],
                        self.ttl_ms,
                    )
                except Unavailable as exc:  # claims may lapse while Redis is away; the next round claims them again
                    logger.warning("renewing takeover claims failed: %s", exc)
                    continue
            lost = [claim for claim, ok in zip(held, renewed, strict=True) if not ok]
            for claim in lost + [claim for claim in self._reclaimed if claim not in lost]:
                try:
                    await (self._renew_lost(claim) if claim in lost else self._confirm_reclaimed(claim))
                except Exception as exc:  # the store or Redis away: tried again on the next round
                    logger.warning("checking the takeover claim on session %s failed: %s", claim[1], exc)

    async def _still_owns(self, tenant_id: str, session_id: str, holder: str) -> bool:
        state = await get_session(self.engine, tenant_id, session_id)
        owner = parse_holder(holder)[0]
        return state is not None and state.mode == "human" and state.status == "open" and state.owner_id == owner

    async def _renew_lost(self, claim: tuple[str, str, str]) -> None:
        """A claim that could not be renewed: gone with Redis's data (a restart, a failover), taken again while
        the store says the agent still owns the session; forced away by a colleague, or let go by a handback or
        a close on another node, no longer renewed."""
        tenant_id, session_id, holder = claim
        if claim in self._held and await self._still_owns(tenant_id, session_id, holder):
            key = self.keys.takeover_lock(tenant_id, session_id)
            taken, _ = await self.coord.claim(key, holder, self.ttl_ms)  # never from another holder
            if taken:
                logger.warning("the takeover claim on session %s was gone from Redis: claimed again", session_id)
                self._reclaimed.add(claim)
                return
        logger.info("claim on session %s passed from %s to another agent", session_id, holder)
        self._held.pop(claim, None)
        self._reclaimed.discard(claim)

    async def _confirm_reclaimed(self, claim: tuple[str, str, str]) -> None:
        tenant_id, session_id, holder = claim
        if not await self._still_owns(tenant_id, session_id, holder):  # let go of while it was taken again
            self._held.pop(claim, None)
            await self.coord.release(self.keys.takeover_lock(tenant_id, session_id), holder)
        self._reclaimed.discard(claim)
