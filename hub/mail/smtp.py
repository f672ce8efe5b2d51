"""The SMTP backend: aiosmtplib, one connection per message, bounded in time.

``HUB_SMTP_URL``: ``smtp://[user:password@]host[:port][?starttls=required|never]`` (port 587; by default
STARTTLS is used when the server offers it) or ``smtps://…`` (TLS from the first byte, port 465).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from hub.mail.base import Email, Mailer, MailError

SMTP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    starttls: bool | None  # None: when the server offers it

    def __repr__(self) -> str:  # never the password
        return f"SmtpTarget({self.host}:{self.port}, user={self.username!r})"


def parse_smtp_url(raw: str) -> SmtpTarget:
    """ValueError with a message that never repeats the URL (it may hold a password)."""
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid host or port") from None
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("must name a host")
    query = parse_qs(parts.query)
    unknown = set(query) - {"starttls"}
    if unknown:
        raise ValueError(f"has unknown options: {', '.join(sorted(unknown))} (only starttls)")
    mode = query.get("starttls", [""])[-1].lower()
    if mode not in ("", "required", "never"):
        raise ValueError("option starttls must be 'required' or 'never'")
    implicit = parts.scheme == "smtps"
    if implicit and mode:
        raise ValueError("smtps:// is TLS from the start: starttls does not apply")
    return SmtpTarget(
        host=parts.hostname,
        port=port or (465 if implicit else 587),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        implicit_tls=implicit,
        starttls=True if mode == "required" else False if mode == "never" else None,
    )


class SmtpMailer(Mailer):
    def __init__(self, target: SmtpTarget, sender: str, *, timeout_s: float = SMTP_TIMEOUT_S) -> None:
        self.target = target
        self.sender = sender
        self.timeout_s = timeout_s
        self._tls = ssl.create_default_context()

    def message(self, email: Email) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = email.to
        message["Subject"] = " ".join(email.subject.split())  # a name with a line break must not end the header
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(email.text)
        return message

    async def send(self, email: Email) -> None:
        target = self.target
        try:
            await aiosmtplib.send(
                self.message(email),
                hostname=target.host,
                port=target.port,
                username=target.username,
                password=target.password,
                use_tls=target.implicit_tls,
                start_tls=target.starttls,
                tls_context=self._tls,
                timeout=self.timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise MailError(f"{type(exc).__name__}: {exc}") from exc
