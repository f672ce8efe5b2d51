"""Private notes on a conversation, and the alerts of the people they mention.

A note is stored in its own table (``hub.store.notes``), never in the transcript, and published on the
tenant's channel only, where agents' sockets listen and visitors' never do: no visitor socket, widget,
HTTP chat path, AI context or webhook can come across one. Each agent socket passes a note on while it
watches that session (``hub.ws.agent``).

A mentioned staff member gets an entry in their Mentions inbox (stored with the note: ``hub.chat.mentions``), a
``mentioned`` frame on their Mission Control sockets on every node, a Web Push on each device they turned push
on for (when the hub has a VAPID key), and an email in their Mission Control's language when the hub has SMTP
and they have no Mission Control open. The alerts run in the background, each bounded: writing the note
never waits for them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.chat.control import Agent
from hub.chat.presence import Presence
from hub.chat.publisher import Publisher
from hub.errors import SessionNotFound, UnknownMention
from hub.i18n import DEFAULT_LANGUAGE, LANGUAGES, translations
from hub.mail.base import Email
from hub.protocol import Mentioned, NoteFrame, NoteItem, Owner
from hub.push.alerts import PushSender, conversation_link
from hub.store.models import Tenant
from hub.store.notes import Note, create_note, session_notes
from hub.store.push import Subscription
from hub.store.transcript import get_session
from hub.store.users import User, list_staff

logger = logging.getLogger(__name__)

PUSH_BODY_CHARS = 200
SendEmail = Callable[[Email], Awaitable[None]]


def note_item(note: Note) -> NoteItem:
    return NoteItem(
        id=note.id,
        author=Owner(note.author_id, note.author_name),
        text=note.text,
        created_at=note.created_at.isoformat(),
        after_seq=note.after_seq,
        mentions=[Owner(str(m.get("id", "")), str(m.get("name", ""))) for m in note.mentions],
    )


def mention_payload(note: Note, session_id: str, language: str) -> dict[str, Any]:
    """What the service worker shows (static/sw.js), in the language the person's Mission Control had."""
    _ = translations(language if language in LANGUAGES else DEFAULT_LANGUAGE).gettext
    body = note.text if len(note.text) <= PUSH_BODY_CHARS else note.text[: PUSH_BODY_CHARS - 1] + "…"
    return {
        "type": "mention",
        "title": _("%(name)s mentioned you in a note") % {"name": note.author_name},
        "body": body,
        "url": conversation_link(session_id),
        "session_id": session_id,
        "tag": f"mention-{note.id}",
    }


def mention_email(tenant: Tenant, note: Note, person: User, public_url: str | None) -> Email:
    """In the language the person last opened Mission Control in (English until they have)."""
    _ = translations(person.language if person.language in LANGUAGES else DEFAULT_LANGUAGE).gettext
    link = f"{public_url or ''}/mission-control#session={note.session_id}"
    names = {"name": note.author_name, "tenant": tenant.name}
    text = "\n".join(
        (
            _("%(name)s mentioned you in a private note on a conversation of %(tenant)s:") % names,
            "",
            note.text,
            "",
            _("Open the conversation in Mission Control: %(link)s") % {"link": link},
            "",
            _(
                "You get this email because you were mentioned while Mission Control was closed; the mention waits "
                "under Mentions there. Visitors never see notes."
            ),
        )
    )
    return Email(to=person.email, subject=_("%(name)s mentioned you in a note (%(tenant)s)") % names, text=text + "\n")


class Notes:
    email_timeout_s = 60.0  # a send is retried within this (hub.chat.followup.Followups.send)
    max_tasks = 1000  # alerts in flight on this node; beyond, new ones are dropped (logged)

    def __init__(
        self,
        engine: AsyncEngine,
        publisher: Publisher,
        push: PushSender,
        presence: Presence,
        *,
        send_email: SendEmail | None = None,
        public_url: str | None = None,
    ) -> None:
        """``send_email``: the hub's mail (``Followups.send``); None when it sends no email."""
        self.engine = engine
        self.publisher = publisher
        self.push = push
        self.presence = presence
        self.send_email = send_email
        self.public_url = public_url
        self._tasks: set[asyncio.Task[None]] = set()

    async def staff(self, tenant_id: str) -> list[User]:
        """The tenant's enabled staff accounts: who may be mentioned."""
        return [user for user in await list_staff(self.engine, tenant_id) if not user.disabled]

    async def write(
        self, tenant: Tenant, session_id: str, author: Agent, text: str, mentions: Sequence[str] = ()
    ) -> NoteItem:
        """Store the note, show it to every agent watching the session, alert the people it mentions."""
        state = await get_session(self.engine, tenant.id, session_id)
        if state is None:
            raise SessionNotFound("no such session in this tenant")
        wanted = list(dict.fromkeys(mentions))
        people: dict[str, User] = {}
        if wanted:
            people = {user.id: user for user in await self.staff(tenant.id)}
            unknown = [person for person in wanted if person not in people]
            if unknown:
                raise UnknownMention(f"'mentions': {unknown[0][:64]!r} is no staff member of this tenant")
        alerted = {str(uuid.uuid4()): person for person in wanted if person != author.id}  # nobody of their own note
        note = await create_note(
            self.engine,
            tenant.id,
            session_id,
            author_id=author.id,
            author_name=author.name,
            text=text,
            mentions=[{"id": person, "name": people[person].name} for person in wanted],
            after_seq=state.last_seq,
            alerted=alerted,
        )
        item = note_item(note)
        self.publisher.note(tenant.id, NoteFrame(session_id=session_id, note=item))
        for mention_id, person in alerted.items():
            frame = Mentioned(agent_id=person, session_id=session_id, note=item, mention_id=mention_id)
            self.publisher.mentioned(tenant.id, frame)
            self._spawn(self._alert(tenant, note, people[person]))
        return item

    async def listed(self, tenant_id: str, session_id: str) -> list[NoteItem]:
        return [note_item(note) for note in await session_notes(self.engine, tenant_id, session_id)]

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        if len(self._tasks) >= self.max_tasks:
            work.close()
            logger.warning("too many mention alerts in flight: one was dropped")
            return
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _alert(self, tenant: Tenant, note: Note, person: User) -> None:
        """Push to the person's devices; email them when they have no Mission Control open."""
        try:

            def payload(found: Subscription) -> dict[str, Any]:
                return mention_payload(note, note.session_id, found.language)

            sent = await self.push.person(tenant.id, person.id, payload)
            logger.debug("mention of %s in note %s: %d pushes accepted", person.id, note.id, sent)
        except Exception:
            logger.exception("push of the mention of %s in note %s failed", person.id, note.id)
        if self.send_email is None:
            return
        try:
            async with asyncio.timeout(self.email_timeout_s):
                if await self.presence.agent_online(tenant.id, person.id):
                    return
                await self.send_email(mention_email(tenant, note, person, self.public_url))
            logger.info("mention in note %s emailed to %s", note.id, person.id)
        except Exception as exc:
            logger.warning("email of the mention of %s in note %s failed: %r", person.id, note.id, exc)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
