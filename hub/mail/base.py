"""What sending an email means to the hub: one address, a subject, plain text (and an optional link)."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

MAX_ADDRESS = 254  # RFC 5321's limit on a forward path, the longest address that can receive mail


class MailError(Exception):
    """The message was not accepted (the server refused it, or could not be reached in time)."""


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str


def checked_address(raw: str, *, deliverability: bool = False) -> str:
    """The address normalised (domain lower-cased, IDN to Unicode); ValueError says what is wrong with it.

    Deliverability (a DNS lookup) is off: the hub must not wait on DNS while a visitor types, and a typo in
    a real domain is caught by no lookup anyway."""
    if len(raw) > MAX_ADDRESS:
        raise ValueError(f"an email address has at most {MAX_ADDRESS} characters")
    try:
        found = validate_email(raw.strip(), check_deliverability=deliverability)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return str(found.normalized)


class Mailer(ABC):
    @abstractmethod
    async def send(self, email: Email) -> None:
        """Hand the message to the mail system, or raise ``MailError``."""

    async def aclose(self) -> None:
        return None


class MemoryMailer(Mailer):
    """Keeps what it is given (tests that need no SMTP server); ``fail`` refuses that many sends first."""

    def __init__(self, fail: int = 0) -> None:
        self.sent: list[Email] = []
        self.fail = fail
        self._changed = asyncio.Condition()

    async def send(self, email: Email) -> None:
        if self.fail:
            self.fail -= 1
            raise MailError("refused (as this test asked)")
        async with self._changed:
            self.sent.append(email)
            self._changed.notify_all()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Email]:
        async with self._changed:
            async with asyncio.timeout(timeout):
                await self._changed.wait_for(lambda: len(self.sent) >= count)
        return list(self.sent)
