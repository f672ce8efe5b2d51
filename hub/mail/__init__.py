"""Email: a tiny ``Mailer`` interface, an in-memory backend (quick tests) and an SMTP one (aiosmtplib).

``mailer_from_settings`` gives the SMTP backend when ``HUB_SMTP_URL`` is set, else None: a hub without
SMTP does not offer visitors to leave an email address, and never promises one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.mail.base import Email, Mailer, MailError, MemoryMailer, checked_address
from hub.mail.smtp import SmtpMailer, parse_smtp_url

if TYPE_CHECKING:
    from hub.settings import Settings

__all__ = [
    "Email",
    "MailError",
    "Mailer",
    "MemoryMailer",
    "SmtpMailer",
    "checked_address",
    "mailer_from_settings",
    "parse_smtp_url",
]


def mailer_from_settings(settings: Settings) -> Mailer | None:
    if settings.smtp_url is None or settings.mail_from is None:
        return None
    return SmtpMailer(parse_smtp_url(settings.smtp_url), settings.mail_from)
