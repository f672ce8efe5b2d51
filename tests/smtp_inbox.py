"""A real SMTP server for the tests (aiosmtpd on a free loopback port): what the hub sends arrives here."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from hub.settings import Settings
from tests.services import free_port

# The sender the hub is given in tests that read its email.
MAIL_FROM = "Bob <bob@hub.example.com>"


class Inbox:
    """aiosmtpd's handler: every message received, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(parsed)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.messages) < count:
            if loop.time() > deadline:
                raise AssertionError(f"{len(self.messages)} emails arrived, {count} expected")
            await asyncio.sleep(0.05)
        return list(self.messages)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    text: str = part.get_content()
    return text


def link(message: EmailMessage) -> str:
    found = re.search(r"https?://\S+/chat/continue/\S+", body(message))
    assert found, body(message)
    return found.group(0)


@contextlib.contextmanager
def smtp_server() -> Iterator[Inbox]:
    inbox = Inbox()
    inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def mail_settings(settings: Settings, inbox: Inbox, port: int, **more: Any) -> Settings:
    """A hub (to listen on ``port``) that sends its email to ``inbox``, with links back to itself."""
    return settings.with_overrides(
        smtp_url=inbox.url,
        mail_from=MAIL_FROM,
        public_url=f"http://127.0.0.1:{port}",
        mail_debounce_s=0.5,
        **more,
    )
