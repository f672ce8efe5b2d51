"""AI replies: one task per session on the node that got the visitor's message.

Tokens are published as they come (not durable) and appended to a shared buffer so a socket that
resumes on any node gets the reply so far; the whole reply is then stored as one ``ai`` message
with the id its tokens announced. Cancelling the task aborts the provider at its source.

While a node runs replies for a tenant it listens on the tenant's control channel, so an agent's
takeover on any node cancels the reply where it is generated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.ai.base import AIError, AIProvider, ChatTurn, Cited, FaqItem, Passage, PersonWanted, ReplyRequest
from hub.appearance import appearance_of
from hub.broker.base import Broker
from hub.chat.announcements import AI_UNAVAILABLE, CREDITS_EXHAUSTED, say, visitor_language, widget_language
from hub.chat.fanout import Fanout
from hub.chat.handoffs import Handoffs
from hub.chat.metering import TenantMeter
from hub.chat.publisher import Publisher
from hub.chat.service import ChatService
from hub.coord.base import Coordinator
from hub.errors import Unavailable
from hub.keys import Keys
from hub.knowledge import Passage as KnowledgePassage
from hub.knowledge.language import detect_language
from hub.knowledge.text import KNOWN, grouping
from hub.metrics import Metrics
from hub.office_hours import hours_text
from hub.plans import Pricebook
from hub.protocol import (
    CancelReply,
    Error,
    Notice,
    ReplyAborted,
    SessionChange,
    Token,
    Typing,
    decode_node_frame,
    encode,
)
from hub.store.knowledge import record_unanswered
from hub.store.models import StoredMessage, Tenant
from hub.store.personas import Persona, default_system_prompt
from hub.store.transcript import get_session, message_stored, reply_context
from hub.supervise import supervise
from hub.tenant_settings import settings_of

logger = logging.getLogger(__name__)

# Refreshed by every token: a reply whose node died mid-stream is forgotten half a minute later.
STREAM_BUFFER_TTL_S = 30
HISTORY_TURNS = 30
NOTE_TIMEOUT_S = 2.0  # noting a question the knowledge did not answer never holds the next reply longer
AI_TYPING = encode(Typing(role="ai", active=True))
AI_FAILED = encode(Error(code="ai_unavailable", message="The AI could not answer."))


@dataclass
class _Running:
    task: asyncio.Task[None]
    again: bool = False
    seen: int = 0  # the newest seq the last look at the store saw
    restart: bool = False  # asked for while cancelled and still finishing: a new task answers after it


class _ControlListener:
    """Hears a tenant's control channel for as long as this node streams replies of that tenant."""

    def __init__(self, runner: ReplyRunner, tenant_id: str) -> None:
        self.runner = runner
        self.tenant_id = tenant_id
        self.replies = 0

    def deliver(self, seq: int, frame: str) -> None:
        command = decode_node_frame(frame)
        if isinstance(command, CancelReply):
            self.runner.cancel(self.tenant_id, command.session_id)

    def resync(self) -> None:
        # A cancel may have been lost while Redis was away: ask the store who is still in AI mode.
        self.runner.recheck(self.tenant_id)


def unanswered(history: list[StoredMessage]) -> list[StoredMessage]:
    """The visitor's messages that nothing answered yet (oldest first).

    A reply stores ``replies_to``, the newest seq of its context, so a message that arrived while it
    streamed (stored before it, with a lower seq) is still unanswered after it. A person's message
    answers everything before it, and so does the notice that the AI could not answer (the visitor
    was told; what they write next is answered with the conversation as context).
    """
    through = 0
    for message in history:
        if message.role == "ai":
            through = max(through, int((message.meta or {}).get("replies_to", message.seq)))
        elif message.role == "agent" or (message.meta or {}).get("reason") == "ai_unavailable":
            through = max(through, message.seq)
    return [message for message in history if message.role == "visitor" and message.seq > through]


Search = Callable[[str, str, str | None, int], Awaitable[tuple[KnowledgePassage, ...]]]
PASSAGES = 3  # the best passages a provider is given


def assistant_name(tenant: Tenant, persona: Persona | None) -> str:
    """The name the AI speaks as: the active persona's, else the tenant's configured one, else Bob."""
    if persona is not None:
        return persona.name
    return str((tenant.config.get("persona") or {}).get("name") or "Bob")


def reply_request(
    tenant: Tenant,
    persona: Persona | None,
    pricebook: Pricebook | None,
    history: tuple[ChatTurn, ...],
    passages: tuple[Passage, ...] = (),
    language: str = "en",
) -> ReplyRequest:
    """What a provider is told, as plain values: who speaks for which business, how, and what it knows."""
    configured = tenant.config.get("persona") or {}
    name = assistant_name(tenant, persona)
    if persona is not None:
        prompt = persona.system_prompt + (f"\n\nTone: {persona.tone}." if persona.tone else "")
    else:
        prompt = str(configured.get("systemPrompt") or default_system_prompt(name, tenant.name))
    greeting = (
        appearance_of(tenant).greeting or f"Hi! I'm {name}, the assistant of {tenant.name}. How can I help you today?"
    )
    faq = tuple(
        FaqItem(str(item.get("question", "")), str(item.get("answer", ""))) for item in tenant.config.get("faq") or ()
    )
    return ReplyRequest(
        business=tenant.name,
        persona=name,
        system_prompt=prompt,
        greeting=str(greeting),
        history=history,
        faq=faq,
        plans=pricebook.plans if pricebook is not None and tenant.is_platform else (),
        passages=passages,
        language=language,
        greeting_language=detect_language([str(greeting)], widget_language(tenant)),
        office_hours=hours_text(hours) if (hours := settings_of(tenant).office_hours) is not None else None,
    )


class ReplyRunner:
    store_retry_s = 120.0  # how long a streamed reply is offered to a failing store before the visitor is told

    def __init__(
        self,
        engine: AsyncEngine,
        chat: ChatService,
        handoffs: Handoffs,
        fanout: Fanout,
        buffers: Broker,
        keys: Keys,
        ai: AIProvider,
        meter: TenantMeter,
        pricebook: Callable[[], Pricebook | None],
        coord: Coordinator,
        tenant_of: Callable[[str], Awaitable[Tenant | None]],
        node_id: str,
        lease_s: float = 6.0,
        metrics: Metrics | None = None,
        knowledge: Search | None = None,
    ) -> None:
        self.engine = engine
        self.metrics = metrics = metrics or Metrics.unexposed()
        self._provider_errors = metrics.ai_provider_errors.labels(provider=ai.name)
        self.chat = chat
        self.handoffs = handoffs
        self.publisher: Publisher = chat.publisher
        self.fanout = fanout
        self.buffers = buffers
        self.keys = keys
        self.ai = ai
        self.meter = meter
        self.pricebook = pricebook  # the live published one: answers quote its numbers
        self.coord = coord
        self.tenant_of = tenant_of
        self.node_id = node_id
        self.knowledge = knowledge  # the tenant's knowledge: passages for the question (hub.knowledge)
        self.lease_s = lease_s  # a reply whose node stops renewing for this long is answered again elsewhere
        self._ttl_ms = int(lease_s * 1000)
        self._claims: set[tuple[str, str]] = set()  # sessions this node is replying to (their claims renewed)
        self._running: dict[tuple[str, str], _Running] = {}
        self._leases: dict[tuple[str, str], str] = {}  # session -> its reply's lease member, while it streams
        self._stopping = False
        self._keeper: asyncio.Task[None] | None = None
        self._control: dict[str, _ControlListener] = {}
        self._checks: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> int:
        return len(self._running)

    def request(self, tenant: Tenant, session_id: str) -> None:
        """Answer the session's latest visitor message; if a reply is streaming, answer again after it."""
        key = (tenant.id, session_id)
        running = self._running.get(key)
        if running is not None:
            if running.task.cancelling():  # cancelled (a takeover, a close) but not gone yet: it will not look again
                running.restart = True
            else:
                running.again = True
            return
        if self._stopping:
            return  # this node is going: a message it stored now is answered by the node the visitor resumes on
        task = asyncio.create_task(self._run(tenant, session_id), name=f"ai-reply:{session_id}")
        self._running[key] = _Running(task)

    def cancel(self, tenant_id: str, session_id: str) -> bool:
        running = self._running.get((tenant_id, session_id))
        if running is None:
            return False
        running.again = False
        running.task.cancel()
        return True

    def recheck(self, tenant_id: str) -> None:
        for key in [key for key in self._running if key[0] == tenant_id]:
            task = asyncio.create_task(self._cancel_unless_ai(*key))
            self._checks.add(task)
            task.add_done_callback(self._checks.discard)

    async def _cancel_unless_ai(self, tenant_id: str, session_id: str) -> None:
        try:
            state = await get_session(self.engine, tenant_id, session_id)
        except Exception:
            logger.exception("checking the mode of session %s failed", session_id)
            return
        if state is None or state.mode != "ai":
            self.cancel(tenant_id, session_id)

    async def _listen_control(self, tenant_id: str) -> None:
        listener = self._control.get(tenant_id)
        if listener is None:
            listener = self._control[tenant_id] = _ControlListener(self, tenant_id)
            await self.fanout.join(self.keys.control_channel(tenant_id), listener)
        listener.replies += 1

    async def _unlisten_control(self, tenant_id: str) -> None:
        listener = self._control.get(tenant_id)
        if listener is None:
            return
        listener.replies -= 1
        if listener.replies <= 0:
            del self._control[tenant_id]
            await self.fanout.leave(self.keys.control_channel(tenant_id), listener)

    def start(self) -> None:
        self._keeper = asyncio.create_task(supervise("reply-leases", self._keep_leases), name="reply-leases")

    async def stop(self, grace_s: float = 0.0) -> None:
        """Let the replies in flight finish within ``grace_s`` (their sockets moved to other nodes, which
        hear the rest through the broker), then cut the others short: what was streamed is stored."""
        self._stopping = True
        tasks = [running.task for running in self._running.values()]
        if tasks and grace_s > 0:
            await asyncio.wait(tasks, timeout=grace_s)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)

    async def _keep_leases(self) -> None:
        """Supervised: renew this node's reply leases; take over the replies of a node whose leases lapsed."""
        key = self.keys.reply_leases()
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                if self._leases:
                    await self.coord.expiring_touch(key, list(self._leases.values()), self.lease_s, prune=False)
                if self._claims:
                    claims = [(self.keys.replying(t, s), self.node_id) for t, s in self._claims]
                    await self.coord.renew(claims, self._ttl_ms)
                lapsed = await self.coord.take_lapsed(key)
            except Unavailable as exc:  # Redis away (a failover): the next round tries again
                logger.warning("renewing AI reply leases failed: %s", exc)
                continue
            for member in lapsed:
                if member not in self._leases.values():
                    await self._orphaned(member)

    async def _orphaned(self, member: str) -> None:
        """A reply whose node died mid-stream: end its tokens for every socket, then answer the visitor again."""
        tenant_id, session_id, message_id = member.split(" ", 2)
        logger.warning("AI reply %s of session %s lost its node; answering again", message_id, session_id)
        if not await message_stored(self.engine, tenant_id, session_id, message_id):
            self.publisher.session(tenant_id, session_id, 0, encode(ReplyAborted(message_id=message_id)))
            buffer = self.keys.stream_buffer(tenant_id, session_id)
            held = await self.buffers.buffer_read(buffer)
            if held and held[0].decode() == message_id:  # a newer reply may own the buffer by now
                self.buffers.buffer_clear(buffer)
        tenant = await self.tenant_of(tenant_id)
        if tenant is not None and not tenant.disabled and self.ai.answers:
            self.request(tenant, session_id)  # answers only if the visitor's last line is still unanswered

    async def _lease(self, tenant_id: str, session_id: str, message_id: str | None) -> None:
        """Hold (``message_id``) or end (None) the lease of a session's reply; Redis being away costs only this."""
        key = (tenant_id, session_id)
        try:
            if message_id is not None:
                member = self._leases[key] = f"{tenant_id} {session_id} {message_id}"
                await self.coord.expiring_touch(self.keys.reply_leases(), [member], self.lease_s, prune=False)
            elif (member := self._leases.pop(key, "")) != "":
                await self.coord.expiring_remove(self.keys.reply_leases(), [member])
        except Exception as exc:
            logger.warning("the lease of the AI reply of session %s was not written: %s", session_id, exc)

    async def _run(self, tenant: Tenant, session_id: str) -> None:
        key = (tenant.id, session_id)
        try:
            # Listening before the mode is read: a takeover committed after that read is heard as a cancel.
            await self._listen_control(tenant.id)
            while not self._stopping:
                self._running[key].again = False
                # One reply at a time per session on all nodes. A node that finds the claim taken leaves the
                # message to the holder, which reads the store again after it lets the claim go.
                if not await self._claim(tenant.id, session_id):
                    return
                try:
                    answered = await self._reply_once(tenant, session_id)
                finally:
                    await self._release(tenant.id, session_id)
                if answered or self._running[key].again:
                    continue
                newer = await self._wrote_since(tenant.id, key)
                if not newer and not self._running[key].again:  # a request may have come during that read
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            # The task boundary: a bug here must be loud, never a silent dead session.
            logger.exception("AI reply for session %s failed", session_id)
        finally:
            running = self._running.pop(key, None)
            if running is not None and running.restart and not self._stopping:
                self.request(tenant, session_id)
            await self._unlisten_control(tenant.id)

    async def _wrote_since(self, tenant_id: str, key: tuple[str, str]) -> bool:
        """Whether the session got a message after the store was last read here. Read after the claim is let go:
        another node that stored a message while this one held the claim left it to this one (its claim failed),
        and its message, committed before that, shows now."""
        state = await get_session(self.engine, tenant_id, key[1])
        return state is not None and state.last_seq > self._running[key].seen

    async def _claim(self, tenant_id: str, session_id: str) -> bool:
        try:
            taken, _ = await self.coord.claim(self.keys.replying(tenant_id, session_id), self.node_id, self._ttl_ms)
        except Exception as exc:  # Redis away: answering twice is better than not answering
            logger.warning("claiming the reply of session %s failed (%s); replying anyway", session_id, exc)
            return True
        if taken:
            self._claims.add((tenant_id, session_id))
        return taken

    async def _release(self, tenant_id: str, session_id: str) -> None:
        self._claims.discard((tenant_id, session_id))
        with contextlib.suppress(Exception):  # it lapses by itself
            await self.coord.release(self.keys.replying(tenant_id, session_id), self.node_id)

    async def _reply_once(self, tenant: Tenant, session_id: str) -> bool:
        """Answer what the visitor said since the last reply's context; False when there is nothing to answer."""
        context = await reply_context(self.engine, tenant.id, session_id, HISTORY_TURNS)
        history = context.history
        self._running[(tenant.id, session_id)].seen = history[-1].seq if history else 0
        if context.mode != "ai":
            return False  # an agent took over after the visitor wrote
        if context.waiting and not settings_of(tenant).ai_while_waiting:
            return False  # the tenant wants the AI quiet while a person is on the way
        questions = unanswered(history)
        if not questions:
            return False  # answered already (by a reply that covered it, or by an agent)
        pricebook = self.pricebook()
        plan = pricebook.plan(tenant.plan) if pricebook is not None else None
        if plan is not None and await self.meter.credits_used(tenant.id) >= plan.ai_credits_month:
            await self._credits_exhausted(tenant, session_id, plan.ai_credits_month)
            return False
        # What came in while the last reply streamed is put after it: that is the order the visitor lived.
        lived = [m for m in history if m not in questions] + questions
        turns = tuple(ChatTurn(m.role, m.text) for m in lived)
        asked = [m.text for m in history if m.role == "visitor"]
        language = visitor_language(tenant, asked)
        passages: tuple[Passage, ...] = ()
        if self.knowledge is not None:  # one search per reply (cached per tenant), never per token
            question = " ".join(m.text for m in questions[-3:])
            found = await self.knowledge(tenant.id, question, language, PASSAGES)
            passages = tuple(Passage(p.title, p.body, p.url, p.relevance) for p in found)
        persona = await self.meter.persona(tenant.id)
        request = reply_request(tenant, persona, pricebook, turns, passages, language)
        message_id = str(uuid.uuid4())
        replies_to = history[-1].seq
        await self._lease(tenant.id, session_id, message_id)
        try:
            handed = await self._stream(tenant, session_id, request, message_id, questions[-1].created_at, replies_to)
        finally:
            await self._lease(tenant.id, session_id, None)
        await self._note_unanswered(tenant.id, session_id, questions[-1].text, passages, handed)
        return True

    async def _note_unanswered(
        self, tenant_id: str, session_id: str, question: str, passages: tuple[Passage, ...], handed: bool
    ) -> None:
        """Keep a question the knowledge did not answer, or that ended with a person, for the portal's list of
        what Bob could not answer (small talk and bare requests for a person are not questions)."""
        if self.knowledge is None or not (grouped := grouping(question)):
            return
        if handed:
            reason = "handoff"
        elif not any(passage.relevance >= KNOWN for passage in passages):
            reason = "no_knowledge"
        else:
            return
        try:
            async with asyncio.timeout(NOTE_TIMEOUT_S), self.engine.begin() as connection:
                await record_unanswered(connection, tenant_id, session_id, question, grouped, reason)
        except Exception as exc:  # a lost note (the store away or slow) is logged; the conversation goes on
            logger.warning("could not note an unanswered question of session %s: %r", session_id, exc)

    async def _stream(
        self,
        tenant: Tenant,
        session_id: str,
        request: ReplyRequest,
        message_id: str,
        asked_at: datetime,
        replies_to: int,
    ) -> bool:
        """Stream and store one reply; True when it handed the visitor to a person."""
        buffer = self.keys.stream_buffer(tenant.id, session_id)
        self.publisher.session(tenant.id, session_id, 0, AI_TYPING)
        self.buffers.buffer_clear(buffer)
        self.buffers.buffer_append(buffer, message_id.encode(), STREAM_BUFFER_TTL_S)
        parts: list[str] = []
        wanted: PersonWanted | None = None  # the provider hands the visitor to a person
        # replies_to: the newest message the reply took into account; first_token_ms (analytics) from the question
        # persona: the name it spoke as, kept for the feedback analytics
        timing: dict[str, Any] = {"replies_to": replies_to, "persona": request.persona}
        metrics = self.metrics
        clock = asyncio.get_running_loop().time
        asked = first_at = clock()
        try:
            async for delta in self.ai.stream(request):
                if isinstance(delta, PersonWanted):
                    wanted = delta
                    continue
                if isinstance(delta, Cited):  # stored with the reply, sent in its message frame
                    timing["sources"] = [{"title": p.title, "url": p.url} for p in delta.passages]
                    continue
                if not parts:
                    timing["first_token_ms"] = int((datetime.now(UTC) - asked_at).total_seconds() * 1000)
                    first_at = clock()
                    metrics.ai_first_token.observe(first_at - asked)
                token = Token(message_id=message_id, index=len(parts), text=delta)
                self.publisher.session(tenant.id, session_id, 0, encode(token))
                self.buffers.buffer_append(buffer, delta.encode(), STREAM_BUFFER_TTL_S)
                parts.append(delta)
            if not parts and wanted is None:
                raise AIError("the provider returned an empty reply")
        except asyncio.CancelledError:
            # Taken over mid-stream: what the visitor already saw stays, marked as cut short.
            metrics.ai_tokens.inc(len(parts))
            metrics.ai_replies_cut.inc()
            if parts:
                meta: dict[str, Any] = {"truncated": True, **timing}
                await self.chat.post(tenant.id, session_id, "ai", "".join(parts), meta=meta, message_id=message_id)
                self.meter.spend(tenant.id)
            self.buffers.buffer_clear(buffer)
            raise
        except AIError as exc:
            logger.warning("AI provider failed for session %s: %s", session_id, exc)
            metrics.ai_tokens.inc(len(parts))
            metrics.ai_replies_failed.inc()
            self._provider_errors.inc()
            if parts:
                await self.chat.post(
                    tenant.id,
                    session_id,
                    "ai",
                    "".join(parts),
                    meta={"truncated": True, "replies_to": replies_to, "persona": request.persona},
                    message_id=message_id,
                )
            self.buffers.buffer_clear(buffer)
            self.publisher.session(tenant.id, session_id, 0, AI_FAILED)
            sorry = say(request.language, AI_UNAVAILABLE)
            await self.chat.post(tenant.id, session_id, "system", sorry, meta={"reason": "ai_unavailable"})
            return False
        # Counted once per reply, never per token: the token loop above is the node's hottest path.
        metrics.ai_tokens.inc(len(parts))
        metrics.ai_replies_completed.inc()
        streamed_s = clock() - first_at
        if len(parts) > 1 and streamed_s > 0:
            metrics.ai_tokens_per_second.observe((len(parts) - 1) / streamed_s)
        if not parts:
            pass  # only the request for a person: the hub's own message tells the visitor
        elif await self._store_reply(tenant.id, session_id, "".join(parts), timing, message_id):
            self.meter.spend(tenant.id)
        else:
            self.publisher.session(tenant.id, session_id, 0, AI_FAILED)
        self.buffers.buffer_clear(buffer)
        if wanted is not None:
            await self.handoffs.request(tenant, session_id, "ai", wanted.note)
        return wanted is not None

    async def _store_reply(
        self, tenant_id: str, session_id: str, text: str, meta: dict[str, Any] | None, message_id: str
    ) -> bool:
        """Store a streamed reply; while the store fails, try again with the same id (bounded).

        The visitor saw every token: a reply lost here would vanish on a reload and leave the question
        unanswered. A retry first asks whether the last attempt was stored after all (a lost ack), so
        the reply is stored once. Meanwhile the stream buffer keeps its tokens for sockets that resume.
        """
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.store_retry_s
        delay = 0.2
        while True:
            try:
                await self.chat.post(tenant_id, session_id, "ai", text, meta=meta, message_id=message_id)
                return True
            except Exception as exc:  # not stored: the store failed, or reading the webhook listeners did
                if loop.time() + delay > give_up_at:
                    logger.error("AI reply %s of session %s could not be stored: %s", message_id, session_id, exc)
                    return False
                logger.warning("storing AI reply %s failed (%s); trying again in %.1f s", message_id, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            with contextlib.suppress(Exception):  # the store may still be away: then it is not there either
                if await message_stored(self.engine, tenant_id, session_id, message_id):
                    return True

    async def _credits_exhausted(self, tenant: Tenant, session_id: str, included: int) -> None:
        """No silent failure: the conversation goes to people (a handoff), the visitor is told, agents alerted."""
        logger.warning(
            "tenant %s used all %d AI credits of this month; conversations go to people", tenant.id, included
        )
        event = ("credits.exhausted", {"session_id": session_id, "ai_credits_included": included})
        await self.chat.change(tenant.id, session_id, SessionChange(id=session_id, mode="human"), event)
        message = f"All {included:,} AI credits of this month are used: Bob stopped answering; please reply."
        self.publisher.notice(tenant.id, Notice(code="credits_exhausted", message=message, session_id=session_id))
        await self.handoffs.request(tenant, session_id, "credits", tell=CREDITS_EXHAUSTED)
