"""Settings read from the environment: defaults, every variable, and a clear error for each bad value."""

from __future__ import annotations

import dataclasses

import pytest

from hub.broker.redis_url import SentinelURL, parse_sentinel_url
from hub.mail import parse_smtp_url
from hub.push.vapid import generate
from hub.settings import Settings, SettingsError

VAPID_KEY = generate()["private_key"]


async def test_empty_environment_gives_the_embedded_single_node_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite+aiosqlite:///bob-hub.sqlite3"
    assert settings.redis_url is None and settings.redis_prefix == "bob"
    assert settings.secret_key_is_ephemeral and len(settings.secret_key) >= 32
    assert settings.ai_provider == "builtin"
    assert settings.openai_base_url == "https://api.openai.com/v1"
    assert settings.openai_api_key is None and settings.openai_model == "gpt-4o-mini"
    assert settings.openai_timeout_s == 30.0
    assert settings.public_url is None
    assert settings.ai_token_delay_ms == 0
    assert settings.max_message_chars == 4000 and settings.max_frame_bytes == 65536
    assert settings.send_queue_frames == 1024
    assert settings.ws_ping_interval_s == 20.0 and settings.ws_per_message_deflate is False
    assert settings.log_level == "info"
    assert settings.password_hashing == "rfc9106-low-memory", "production cost unless a test suite asks otherwise"
    assert settings.vapid_private_key is None and settings.vapid_subject is None, "no key: push is not offered"
    assert settings.push_allow_private is False
    assert settings.visitor_context_retention_days == 90
    assert settings.node_id


async def test_ephemeral_secret_and_node_id_differ_between_nodes() -> None:
    one, two = Settings.from_env({}), Settings.from_env({})
    assert one.secret_key != two.secret_key and one.node_id != two.node_id


async def test_blank_values_count_as_unset() -> None:
    settings = Settings.from_env(
        {"HUB_REDIS_URL": "  ", "HUB_AI_TOKEN_DELAY_MS": "", "HUB_LOG_LEVEL": " ", "HUB_SECRET_KEY": ""}
    )
    assert settings.redis_url is None and settings.ai_token_delay_ms == 0 and settings.log_level == "info"
    assert settings.secret_key_is_ephemeral


async def test_every_variable_is_parsed() -> None:
    settings = Settings.from_env(
        {
            "HUB_DATABASE_URL": "postgresql+asyncpg://hub:pw@db.internal:5432/hub",
            "HUB_REDIS_URL": "rediss://:pw@cache.internal:6380/2",
            "HUB_REDIS_PREFIX": "bob-prod_1.eu",
            "HUB_SECRET_KEY": "  0123456789abcdef-secret  ",
            "HUB_AI_PROVIDER": "openai",
            "HUB_OPENAI_BASE_URL": "http://llm.internal:8080/v1/",
            "HUB_OPENAI_API_KEY": "sk-abc",
            "HUB_OPENAI_MODEL": "llama-3.1-8b",
            "HUB_OPENAI_TIMEOUT_S": "2.5",
            "HUB_PUBLIC_URL": "https://chat.example.com/",
            "HUB_AI_TOKEN_DELAY_MS": "40",
            "HUB_MAX_MESSAGE_CHARS": "500",
            "HUB_MAX_BODY_BYTES": "2048",
            "HUB_RATE_LIMIT_ADDRESS": "10/second",
            "HUB_RATE_LIMIT_KEY": "100 per minute",
            "HUB_RATE_LIMIT_SESSION": "5/minute",
            "HUB_RATE_LIMIT_SOCKET": "10 per minute",
            "HUB_RATE_LIMIT_SOCKET_FRAMES": "2/second",
            "HUB_RATE_LIMIT_SOCKET_REFUSALS": "3/minute",
            "HUB_SEND_QUEUE_FRAMES": "64",
            "HUB_WS_PING_INTERVAL_S": "0",
            "HUB_WS_PER_MESSAGE_DEFLATE": "on",
            "HUB_LOG_LEVEL": "DEBUG",
            "HUB_PASSWORD_HASHING": "cheapest",
            "HUB_VAPID_PRIVATE_KEY": VAPID_KEY,
            "HUB_VAPID_SUBJECT": "mailto:ops@example.com",
            "HUB_PUSH_ALLOW_PRIVATE": "1",
            "HUB_VISITOR_CONTEXT_RETENTION_DAYS": "0",
        }
    )
    assert settings.database_url == "postgresql+asyncpg://hub:pw@db.internal:5432/hub"
    assert settings.redis_url == "rediss://:pw@cache.internal:6380/2"
    assert settings.redis_prefix == "bob-prod_1.eu"
    assert settings.secret_key == "0123456789abcdef-secret" and not settings.secret_key_is_ephemeral
    assert settings.ai_provider == "openai"
    assert settings.openai_base_url == "http://llm.internal:8080/v1", "a trailing slash is dropped"
    assert settings.openai_api_key == "sk-abc" and settings.openai_model == "llama-3.1-8b"
    assert settings.openai_timeout_s == 2.5
    assert settings.public_url == "https://chat.example.com"
    assert settings.ai_token_delay_ms == 40
    assert settings.max_message_chars == 500 and settings.send_queue_frames == 64
    assert settings.ws_ping_interval_s == 0.0 and settings.ws_per_message_deflate is True
    assert settings.log_level == "debug" and settings.password_hashing == "cheapest"
    assert settings.max_body_bytes == 2048
    assert settings.vapid_private_key == VAPID_KEY and settings.vapid_subject == "mailto:ops@example.com"
    assert settings.push_allow_private is True
    assert settings.visitor_context_retention_days == 0, "0 keeps visitor context forever"
    assert (settings.rate_limit_address, settings.rate_limit_key, settings.rate_limit_session) == (
        "10/second",
        "100 per minute",
        "5/minute",
    )
    assert (settings.rate_limit_socket, settings.rate_limit_socket_frames, settings.rate_limit_socket_refusals) == (
        "10 per minute",
        "2/second",
        "3/minute",
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgres://hub:pw@db:5432/hub", "postgresql+asyncpg://hub:pw@db:5432/hub"),
        ("postgresql://hub@db/hub", "postgresql+asyncpg://hub@db/hub"),
        ("postgresql+asyncpg://hub@db/hub", "postgresql+asyncpg://hub@db/hub"),
        ("sqlite:///data/hub.sqlite3", "sqlite+aiosqlite:///data/hub.sqlite3"),
        ("sqlite+aiosqlite:///hub.db", "sqlite+aiosqlite:///hub.db"),
    ],
)
async def test_pasted_database_urls_are_normalised_to_async_drivers(raw: str, expected: str) -> None:
    assert Settings.from_env({"HUB_DATABASE_URL": raw}).database_url == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("TRUE", True), ("yes", True), ("0", False), ("off", False), ("No", False)]
)
async def test_boolean_spellings(value: str, expected: bool) -> None:
    assert Settings.from_env({"HUB_WS_PER_MESSAGE_DEFLATE": value}).ws_per_message_deflate is expected


async def test_redis_over_a_unix_socket_is_accepted() -> None:
    url = "unix:///var/run/redis/redis.sock?db=1"
    assert Settings.from_env({"HUB_REDIS_URL": url}).redis_url == url


async def test_redis_behind_sentinel_is_a_url_of_sentinels_a_master_name_and_a_db() -> None:
    url = "rediss+sentinel://:m%40ster@s1.internal,s2.internal:26380,[::1]/bob-cache/2?sentinel_password=s3&ssl_cert_reqs=none"
    assert Settings.from_env({"HUB_REDIS_URL": url}).redis_url == url
    assert parse_sentinel_url(url) == SentinelURL(
        sentinels=(("s1.internal", 26379), ("s2.internal", 26380), ("::1", 26379)),
        service_name="bob-cache",
        db=2,
        password="m@ster",
        sentinel_password="s3",
        tls=True,
        tls_options={"ssl_cert_reqs": "none"},
    )


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel://:pw@s1:26379", "must name the master"),
        ("redis+sentinel://:pw@s1:26379/", "must name the master"),
        ("redis+sentinel://:pw@/bob", "must list Sentinels"),
        ("redis+sentinel://:pw@s1,,s2/bob", "must list Sentinels"),
        ("redis+sentinel://:pw@s1:port/bob", "invalid Sentinel address 's1:port'"),
        ("redis+sentinel://:pw@s1:70000/bob", "invalid Sentinel address 's1:70000'"),
        ("redis+sentinel://:pw@s1/bob/zero", "/<service name>/<db number>"),
        ("redis+sentinel://:pw@s1/bob?ssl_ca_certs=ca.pem", "needs rediss+sentinel://"),
        ("rediss+sentinel://:pw@s1/bob?ssl_cert_reqs=maybe", "ssl_cert_reqs='maybe'"),
        ("redis+sentinel://:pw@s1/bob?socket_timeout=1", "unknown option 'socket_timeout'"),
    ],
)
async def test_a_bad_sentinel_url_is_refused_saying_what_is_wrong_without_its_password(url: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"HUB_REDIS_URL": url})
    assert str(caught.value).startswith("HUB_REDIS_URL ") and says in str(caught.value)
    assert "pw" not in str(caught.value)


async def test_openai_provider_with_a_local_base_url_needs_no_api_key() -> None:
    settings = Settings.from_env({"HUB_AI_PROVIDER": "openai", "HUB_OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"})
    assert settings.openai_api_key is None and settings.openai_base_url == "http://127.0.0.1:11434/v1"


BAD_VALUES = [
    ("HUB_DATABASE_URL", "mysql://db/hub"),
    ("HUB_DATABASE_URL", "db.internal/hub"),
    ("HUB_DATABASE_URL", "postgresql:///hub"),
    ("HUB_REDIS_URL", "http://cache:6379"),
    ("HUB_REDIS_URL", "redis://"),
    ("HUB_REDIS_URL", "memcached://cache:11211"),
    ("HUB_REDIS_PREFIX", "bob:prod"),
    ("HUB_REDIS_PREFIX", "bob prod"),
    ("HUB_SECRET_KEY", "short"),
    ("HUB_SECRET_KEY", "fifteen-chars!!"),
    ("HUB_AI_PROVIDER", "gpt"),
    ("HUB_AI_PROVIDER", "OpenAI"),
    ("HUB_OPENAI_BASE_URL", "ftp://llm.internal/v1"),
    ("HUB_OPENAI_BASE_URL", "localhost:8080/v1"),
    ("HUB_OPENAI_BASE_URL", "http://"),
    ("HUB_OPENAI_BASE_URL", "http://:8080/v1"),
    ("HUB_OPENAI_BASE_URL", "http://llm.internal:port/v1"),
    ("HUB_OPENAI_BASE_URL", "http://[::1/v1"),
    ("HUB_OPENAI_TIMEOUT_S", "soon"),
    ("HUB_OPENAI_TIMEOUT_S", "0"),
    ("HUB_OPENAI_TIMEOUT_S", "nan"),
    ("HUB_OPENAI_TIMEOUT_S", "601"),
    ("HUB_PUBLIC_URL", "chat.example.com"),
    ("HUB_PUBLIC_URL", "ws://chat.example.com"),
    ("HUB_PUBLIC_URL", "https://chat.example.com:99999"),
    ("HUB_PUBLIC_URL", "https://[chat"),
    ("HUB_PUBLIC_URL", "https://chat.example.com/hub"),
    ("HUB_PUBLIC_URL", "https://chat.example.com?x=1"),
    ("HUB_AI_TOKEN_DELAY_MS", "abc"),
    ("HUB_AI_TOKEN_DELAY_MS", "-1"),
    ("HUB_AI_TOKEN_DELAY_MS", "1.5"),
    ("HUB_AI_TOKEN_DELAY_MS", "10001"),
    ("HUB_MAX_MESSAGE_CHARS", "0"),
    ("HUB_MAX_MESSAGE_CHARS", "many"),
    ("HUB_SEND_QUEUE_FRAMES", "8"),
    ("HUB_WS_PING_INTERVAL_S", "-5"),
    ("HUB_WS_PER_MESSAGE_DEFLATE", "maybe"),
    ("HUB_WS_PER_MESSAGE_DEFLATE", "2"),
    ("HUB_LOG_LEVEL", "verbose"),
    ("HUB_PASSWORD_HASHING", "fast"),
    ("HUB_MAX_BODY_BYTES", "10"),
    ("HUB_RATE_LIMIT_ADDRESS", "lots"),
    ("HUB_RATE_LIMIT_KEY", "0/minute"),
    ("HUB_RATE_LIMIT_SESSION", "-3/minute"),
    ("HUB_RATE_LIMIT_SOCKET", "0/minute"),
    ("HUB_RATE_LIMIT_SOCKET_FRAMES", "often"),
    ("HUB_RATE_LIMIT_SOCKET_REFUSALS", "3/fortnight"),
    ("HUB_VAPID_PRIVATE_KEY", "not-a-key"),
    ("HUB_VAPID_PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
    ("HUB_VAPID_SUBJECT", "ops@example.com"),
    ("HUB_VAPID_SUBJECT", "http://example.com"),
    ("HUB_PUSH_ALLOW_PRIVATE", "sometimes"),
    ("HUB_VISITOR_CONTEXT_RETENTION_DAYS", "-1"),
    ("HUB_VISITOR_CONTEXT_RETENTION_DAYS", "a month"),
    ("HUB_VISITOR_CONTEXT_RETENTION_DAYS", "36501"),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
async def test_bad_value_raises_settings_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: value})
    assert name in str(caught.value)


@pytest.mark.parametrize("base_url", [None, "", "   "])
async def test_openai_provider_without_api_key_or_base_url_is_refused(base_url: str | None) -> None:
    env = {"HUB_AI_PROVIDER": "openai"}
    if base_url is not None:
        env["HUB_OPENAI_BASE_URL"] = base_url
    with pytest.raises(SettingsError, match="HUB_OPENAI_API_KEY"):
        Settings.from_env(env)


async def test_settings_are_frozen_and_overrides_make_a_copy() -> None:
    settings = Settings.from_env({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.ai_provider = "none"  # type: ignore[misc]
    changed = settings.with_overrides(ai_provider="none")
    assert changed.ai_provider == "none" and settings.ai_provider == "builtin"
    assert changed.secret_key == settings.secret_key


async def test_smtp_needs_a_sender_and_the_public_url_and_never_shows_its_password() -> None:
    base = {"HUB_PUBLIC_URL": "https://chat.example.com", "HUB_MAIL_FROM": "Bob <bob@example.com>"}
    settings = Settings.from_env(
        {
            **base,
            "HUB_SMTP_URL": "smtp://mailer:s3cret@smtp.example.com:587?starttls=required",
            "HUB_MAIL_DEBOUNCE_S": "5",
        }
    )
    assert settings.mail_from == "Bob <bob@example.com>" and settings.mail_debounce_s == 5
    assert "s3cret" not in repr(settings)
    target = parse_smtp_url(settings.smtp_url or "")
    assert (target.host, target.port, target.username, target.password, target.starttls) == (
        "smtp.example.com",
        587,
        "mailer",
        "s3cret",
        True,
    )
    implicit = parse_smtp_url("smtps://smtp.example.com")
    assert implicit.port == 465 and implicit.implicit_tls and implicit.starttls is None
    with pytest.raises(SettingsError, match="HUB_MAIL_FROM"):
        Settings.from_env({"HUB_PUBLIC_URL": "https://chat.example.com", "HUB_SMTP_URL": "smtp://smtp.example.com"})
    with pytest.raises(SettingsError, match="HUB_PUBLIC_URL"):
        Settings.from_env({"HUB_MAIL_FROM": "bob@example.com", "HUB_SMTP_URL": "smtp://smtp.example.com"})
    for bad in (
        "http://smtp.example.com",
        "smtp://",
        "smtp://h:99999",
        "smtp://h?starttls=maybe",
        "smtps://h?starttls=never",
        "smtp://h?tls=1",
    ):
        with pytest.raises(SettingsError) as caught:
            Settings.from_env({**base, "HUB_SMTP_URL": bad.replace("h", "user:pw@h", 1) if "://h" in bad else bad})
        assert "HUB_SMTP_URL" in str(caught.value) and "pw" not in str(caught.value)
    with pytest.raises(SettingsError, match="HUB_MAIL_FROM"):
        Settings.from_env({"HUB_MAIL_FROM": "not an address"})
    with pytest.raises(SettingsError, match="HUB_MAIL_DEBOUNCE_S"):
        Settings.from_env({"HUB_MAIL_DEBOUNCE_S": "-1"})


async def test_a_vapid_key_needs_a_subject_and_is_never_shown_in_the_error() -> None:
    with pytest.raises(SettingsError, match="HUB_VAPID_SUBJECT") as caught:
        Settings.from_env({"HUB_VAPID_PRIVATE_KEY": VAPID_KEY})
    assert VAPID_KEY not in str(caught.value)
    with pytest.raises(SettingsError, match="HUB_VAPID_PRIVATE_KEY") as bad:
        Settings.from_env({"HUB_VAPID_PRIVATE_KEY": VAPID_KEY[:-4], "HUB_VAPID_SUBJECT": "https://example.com"})
    assert VAPID_KEY[:-4] not in str(bad.value)
