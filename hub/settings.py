"""Settings read once from the environment into a frozen object.

Every bad value fails at start with a message that names the variable, so a typo in a deploy
never turns into a half-working node.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from email.utils import formataddr, parseaddr
from urllib.parse import urlsplit

from limits import parse

from hub.broker.redis_url import SENTINEL_SCHEMES, is_sentinel_url, parse_sentinel_url
from hub.mail.base import checked_address
from hub.mail.smtp import parse_smtp_url
from hub.push.vapid import BadVapidKey, load_private_key

AI_PROVIDERS = ("builtin", "openai", "none")
LOG_FORMATS = ("text", "json")  # text for a terminal; json: one object per line, for log shippers
# HUB_PASSWORD_HASHING: argon2 cost profiles (hub.auth.passwords maps each to argon2-cffi's). "cheapest"
# protects nothing: it is for test suites only.
PASSWORD_HASHING = ("rfc9106-low-memory", "cheapest")
DEFAULT_PASSWORD_HASHING = "rfc9106-low-memory"


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///bob-hub.sqlite3"
    redis_url: str | None = None
    redis_prefix: str = "bob"
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    secret_key_is_ephemeral: bool = True
    ai_provider: str = "builtin"
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout_s: float = 30.0
    public_url: str | None = None
    ai_token_delay_ms: int = 0
    max_message_chars: int = 4000
    max_body_bytes: int = 65536
    rate_limit_address: str = "120/minute"
    rate_limit_key: str = "3000/minute"
    rate_limit_session: str = "30/minute"
    rate_limit_socket: str = "30/minute"
    rate_limit_socket_frames: str = "120/minute"
    rate_limit_socket_refusals: str = "20/minute"
    max_frame_bytes: int = 65536
    send_queue_frames: int = 1024
    ws_ping_interval_s: float = 20.0
    ws_per_message_deflate: bool = False
    database_timeout_s: float = 10.0
    knowledge_timeout_s: float = 1.0
    ai_prompt_tokens: int = 3000
    shutdown_grace_s: float = 10.0
    drain_s: float = 0.0
    reply_lease_s: float = 6.0
    takeover_lock_ttl_s: float = 15.0
    presence_ttl_s: float = 30.0
    webhooks_allow_private: bool = False
    vapid_private_key: str | None = None  # Web Push (hub.push); unset: push alerts are not offered
    vapid_subject: str | None = None
    push_allow_private: bool = False
    password_hashing: str = DEFAULT_PASSWORD_HASHING
    smtp_url: str | None = field(default=None, repr=False)  # may hold a password
    mail_from: str | None = None
    mail_debounce_s: float = 60.0
    log_level: str = "info"
    log_format: str = "text"
    metrics_token: str | None = None
    # Days a visitor's context (pages, visits, languages) is kept after they were last seen; 0 keeps it forever.
    visitor_context_retention_days: int = 90
    node_id: str = field(default_factory=lambda: secrets.token_hex(4))

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}

        def text(name: str) -> str | None:
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                return None
            return raw.strip()

        def integer(name: str, low: int, high: int) -> int | None:
            raw = text(name)
            if raw is None:
                return None
            try:
                number = int(raw)
            except ValueError:
                raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
            if not low <= number <= high:
                raise SettingsError(f"{name} must be between {low} and {high}, got {number}")
            return number

        def number(name: str, low: float, high: float) -> float | None:
            raw = text(name)
            if raw is None:
                return None
            try:
                value = float(raw)
            except ValueError:
                raise SettingsError(f"{name} must be a number, got {raw!r}") from None
            if not low <= value <= high:
                raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
            return value

        def boolean(name: str) -> bool | None:
            raw = text(name)
            if raw is None:
                return None
            lowered = raw.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise SettingsError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")

        def url(name: str, schemes: tuple[str, ...], *, driver_suffix: bool = False) -> str | None:
            raw = text(name)
            if raw is None:
                return None
            if is_sentinel_url(raw) and any(scheme in SENTINEL_SCHEMES for scheme in schemes):
                try:
                    parse_sentinel_url(raw)
                except ValueError as exc:  # the message never shows the URL: it may hold passwords
                    raise SettingsError(f"{name} {exc}") from None
                return raw
            try:
                parts = urlsplit(raw)
            except ValueError as exc:  # e.g. an unclosed IPv6 bracket
                raise SettingsError(f"{name} is not a valid URL ({exc}), got {raw!r}") from None
            # Only database URLs name a driver after '+' (postgresql+asyncpg).
            scheme = parts.scheme.split("+", 1)[0] if driver_suffix else parts.scheme
            if scheme not in schemes:
                raise SettingsError(f"{name} must be a URL with scheme {' or '.join(schemes)}, got {raw!r}")
            if scheme in ("sqlite", "unix"):
                return raw  # a file path, no host
            if not parts.netloc:
                raise SettingsError(f"{name} must include a host, got {raw!r}")
            if scheme in ("http", "https", "redis", "rediss"):
                try:
                    _ = parts.port  # raises ValueError when the port is not a number in range
                except ValueError:
                    raise SettingsError(f"{name} has an invalid port, got {raw!r}") from None
                if not parts.hostname:
                    raise SettingsError(f"{name} must include a host, got {raw!r}")
            return raw

        database_url = url("HUB_DATABASE_URL", ("sqlite", "postgresql", "postgres"), driver_suffix=True)
        if database_url is not None:
            values["database_url"] = _normalise_database_url(database_url)
        redis_url = url("HUB_REDIS_URL", ("redis", "rediss", "unix", *SENTINEL_SCHEMES))
        if redis_url is not None:
            values["redis_url"] = redis_url
        prefix = text("HUB_REDIS_PREFIX")
        if prefix is not None:
            if not prefix.replace("-", "").replace("_", "").replace(".", "").isalnum():
                raise SettingsError(f"HUB_REDIS_PREFIX may hold letters, digits, '-', '_' and '.', got {prefix!r}")
            values["redis_prefix"] = prefix
        secret = text("HUB_SECRET_KEY")
        if secret is not None:
            if len(secret) < 16:
                raise SettingsError("HUB_SECRET_KEY must be at least 16 characters long")
            values["secret_key"] = secret
            values["secret_key_is_ephemeral"] = False
        provider = text("HUB_AI_PROVIDER")
        if provider is not None:
            if provider not in AI_PROVIDERS:
                raise SettingsError(f"HUB_AI_PROVIDER must be one of {', '.join(AI_PROVIDERS)}, got {provider!r}")
            values["ai_provider"] = provider
        base_url = url("HUB_OPENAI_BASE_URL", ("http", "https"))
        if base_url is not None:
            values["openai_base_url"] = base_url.rstrip("/")
        key = text("HUB_OPENAI_API_KEY")
        if key is not None:
            values["openai_api_key"] = key
        model = text("HUB_OPENAI_MODEL")
        if model is not None:
            values["openai_model"] = model
        timeout = number("HUB_OPENAI_TIMEOUT_S", 0.1, 600)
        if timeout is not None:
            values["openai_timeout_s"] = timeout
        public_url = url("HUB_PUBLIC_URL", ("http", "https"))
        if public_url is not None:
            public = urlsplit(public_url)
            if public.path not in ("", "/") or public.query or public.fragment or public.username is not None:
                # It is compared with browsers' Origin header, so it can only be scheme://host[:port].
                raise SettingsError(f"HUB_PUBLIC_URL must be scheme://host[:port] only, got {public_url!r}")
            values["public_url"] = public_url.rstrip("/")
        delay = integer("HUB_AI_TOKEN_DELAY_MS", 0, 10_000)
        if delay is not None:
            values["ai_token_delay_ms"] = delay
        body_bytes = integer("HUB_MAX_BODY_BYTES", 1024, 10_000_000)
        if body_bytes is not None:
            values["max_body_bytes"] = body_bytes
        for name, field_name in (
            ("HUB_RATE_LIMIT_ADDRESS", "rate_limit_address"),
            ("HUB_RATE_LIMIT_KEY", "rate_limit_key"),
            ("HUB_RATE_LIMIT_SESSION", "rate_limit_session"),
            ("HUB_RATE_LIMIT_SOCKET", "rate_limit_socket"),
            ("HUB_RATE_LIMIT_SOCKET_FRAMES", "rate_limit_socket_frames"),
            ("HUB_RATE_LIMIT_SOCKET_REFUSALS", "rate_limit_socket_refusals"),
        ):
            rate = text(name)
            if rate is not None:
                try:
                    if parse(rate).amount < 1:
                        raise ValueError(rate)
                except ValueError:
                    raise SettingsError(
                        f"{name} must be a rate like '30/minute' or '5 per second', got {rate!r}"
                    ) from None
                values[field_name] = rate
        max_chars = integer("HUB_MAX_MESSAGE_CHARS", 1, 60_000)
        if max_chars is not None:
            values["max_message_chars"] = max_chars
        queue = integer("HUB_SEND_QUEUE_FRAMES", 16, 1_000_000)
        if queue is not None:
            values["send_queue_frames"] = queue
        ping = number("HUB_WS_PING_INTERVAL_S", 0, 3600)
        if ping is not None:
            values["ws_ping_interval_s"] = ping
        database_timeout = number("HUB_DATABASE_TIMEOUT_S", 0.2, 600)
        if database_timeout is not None:
            values["database_timeout_s"] = database_timeout
        prompt_tokens = integer("HUB_AI_PROMPT_TOKENS", 500, 1_000_000)
        if prompt_tokens is not None:
            values["ai_prompt_tokens"] = prompt_tokens
        knowledge_timeout = number("HUB_KNOWLEDGE_TIMEOUT_S", 0.05, 60)
        if knowledge_timeout is not None:
            values["knowledge_timeout_s"] = knowledge_timeout
        grace = number("HUB_SHUTDOWN_GRACE_S", 0, 300)
        if grace is not None:
            values["shutdown_grace_s"] = grace
        drain = number("HUB_DRAIN_S", 0, 300)
        if drain is not None:
            values["drain_s"] = drain
        reply_lease = number("HUB_REPLY_LEASE_S", 1, 300)
        if reply_lease is not None:
            values["reply_lease_s"] = reply_lease
        lock_ttl = number("HUB_TAKEOVER_LOCK_TTL_S", 1, 3600)
        if lock_ttl is not None:
            values["takeover_lock_ttl_s"] = lock_ttl
        presence_ttl = number("HUB_PRESENCE_TTL_S", 1, 3600)
        if presence_ttl is not None:
            values["presence_ttl_s"] = presence_ttl
        allow_private = boolean("HUB_WEBHOOKS_ALLOW_PRIVATE")
        if allow_private is not None:
            values["webhooks_allow_private"] = allow_private
        vapid_key = text("HUB_VAPID_PRIVATE_KEY")
        if vapid_key is not None:
            try:
                load_private_key(vapid_key)
            except BadVapidKey as exc:  # the message never shows the key
                raise SettingsError(f"HUB_VAPID_PRIVATE_KEY is {exc}; make one with `bob-hub vapid generate`") from None
            values["vapid_private_key"] = vapid_key
        subject = text("HUB_VAPID_SUBJECT")
        if subject is not None:
            if not (subject.startswith("mailto:") and "@" in subject) and not subject.startswith("https://"):
                raise SettingsError(
                    f"HUB_VAPID_SUBJECT must be a mailto: address or an https:// URL to reach you by, got {subject!r}"
                )
            values["vapid_subject"] = subject
        elif vapid_key is not None:
            raise SettingsError(
                "HUB_VAPID_PRIVATE_KEY needs HUB_VAPID_SUBJECT (mailto:ops@example.com or an https:// URL): push "
                "services contact it when something goes wrong"
            )
        push_private = boolean("HUB_PUSH_ALLOW_PRIVATE")
        if push_private is not None:
            values["push_allow_private"] = push_private
        deflate = boolean("HUB_WS_PER_MESSAGE_DEFLATE")
        if deflate is not None:
            values["ws_per_message_deflate"] = deflate
        hashing = text("HUB_PASSWORD_HASHING")
        if hashing is not None:
            if hashing not in PASSWORD_HASHING:
                raise SettingsError(
                    f"HUB_PASSWORD_HASHING must be one of {', '.join(PASSWORD_HASHING)}, got {hashing!r}"
                )
            values["password_hashing"] = hashing
        smtp_url = text("HUB_SMTP_URL")
        if smtp_url is not None:
            try:
                parse_smtp_url(smtp_url)
            except ValueError as exc:  # the message never shows the URL: it may hold a password
                raise SettingsError(f"HUB_SMTP_URL {exc}") from None
            values["smtp_url"] = smtp_url
        mail_from = text("HUB_MAIL_FROM")
        if mail_from is not None:
            try:
                name, address = parseaddr(mail_from)
                values["mail_from"] = formataddr((name, checked_address(address))) if name else checked_address(address)
            except ValueError as exc:
                raise SettingsError(f"HUB_MAIL_FROM is not an email address ({exc}), got {mail_from!r}") from None
        if smtp_url is not None and mail_from is None:
            raise SettingsError("HUB_SMTP_URL needs HUB_MAIL_FROM, the address the hub's emails come from")
        if smtp_url is not None and public_url is None:
            raise SettingsError("HUB_SMTP_URL needs HUB_PUBLIC_URL: the links in the hub's emails are built on it")
        debounce = number("HUB_MAIL_DEBOUNCE_S", 0, 3600)
        if debounce is not None:
            values["mail_debounce_s"] = debounce
        level = text("HUB_LOG_LEVEL")
        if level is not None:
            if level.lower() not in ("critical", "error", "warning", "info", "debug"):
                raise SettingsError(
                    f"HUB_LOG_LEVEL must be one of critical, error, warning, info, debug, got {level!r}"
                )
            values["log_level"] = level.lower()

        log_format = text("HUB_LOG_FORMAT")
        if log_format is not None:
            if log_format.lower() not in LOG_FORMATS:
                raise SettingsError(f"HUB_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
            values["log_format"] = log_format.lower()
        metrics_token = text("HUB_METRICS_TOKEN")
        if metrics_token is not None:
            if len(metrics_token) < 16:
                raise SettingsError("HUB_METRICS_TOKEN must be at least 16 characters long")
            values["metrics_token"] = metrics_token

        retention = integer("HUB_VISITOR_CONTEXT_RETENTION_DAYS", 0, 36500)
        if retention is not None:
            values["visitor_context_retention_days"] = retention

        settings = cls(**values)  # type: ignore[arg-type]
        if settings.ai_provider == "openai" and base_url is None and not settings.openai_api_key:
            raise SettingsError(
                "HUB_AI_PROVIDER=openai needs HUB_OPENAI_API_KEY (or HUB_OPENAI_BASE_URL for a local server)"
            )
        return settings


def _normalise_database_url(raw: str) -> str:
    """Pick the async driver for the plain URLs people paste (postgres://, sqlite:///file)."""
    scheme, _, rest = raw.partition("://")
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+asyncpg://{rest}"
    if scheme == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    return raw
