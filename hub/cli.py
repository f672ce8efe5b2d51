"""``bob-hub``: serve a node, migrate the schema, manage tenants."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from hub.accounts import add_account, new_account, open_tenant
from hub.auth.passwords import Passwords
from hub.demo_conversations import seed_demo_conversations
from hub.demo_knowledge import DEMO_KNOWLEDGE
from hub.errors import HubError, InvalidInput
from hub.logs import configure
from hub.push.vapid import generate as generate_vapid_keys
from hub.settings import Settings, SettingsError
from hub.store import knowledge
from hub.store.canned import create_canned, list_canned
from hub.store.database import migrate_database, open_engine
from hub.store.tenants import get_tenant_by_business_id
from hub.store.users import find_user, rename_user
from hub.store.widget_keys import create_widget_key, list_widget_keys

SECRET_FILE = ".bob-hub-secret"

DEMO_TENANTS = (
    {
        "name": "Office16852 Platform",
        "business_id": "office16852-platform",
        "origins": [],
        "user": ("admin@office16852.com", "your_password", "admin", "Sam from Office16852"),
    },
    {
        "name": "Business Demo",
        "business_id": "business",
        "user": ("customer@business.com", "customer_password", "owner", "Alex from Business Demo"),
        "origins": ["http://localhost:*", "http://127.0.0.1:*"],
    },
)


# The demo tenants' canned replies (the five Mission Control once had built in).
DEMO_CANNED = (
    ("Greeting", "Hi, I'm here to help! Give me a moment to read the conversation."),
    ("Checking", "Thanks for waiting. Let me check that for you."),
    ("Order number", "Could you share your order number, please?"),
    ("Anything else", "Is there anything else I can help you with?"),
    ("Goodbye", "Thanks for chatting with us. Have a great day!"),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bob-hub", description="Bob hub: live AI chat hub")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="start a hub node (migrates the schema first)")
    serve.add_argument("--host", default="127.0.0.1")
    # Defaults come from PORT / WEB_CONCURRENCY, read in _serve so a bad value is a configuration error.
    serve.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    serve.add_argument("--workers", type=int, default=None, help="default: $WEB_CONCURRENCY or 1")
    serve.add_argument("--demo", action="store_true", help="create the demo tenants (idempotent) and print them")

    commands.add_parser("migrate", help="create or upgrade the database schema")

    user = commands.add_parser("user", help="manage user accounts").add_subparsers(dest="action", required=True)
    create_user_cmd = user.add_parser(
        "create",
        help="create a user of a tenant and print it as JSON",
        description="Create a user of a tenant and print it as JSON. The password is asked twice at a prompt "
        "when standard input is a terminal; scripts pipe it with --password-stdin.",
    )
    create_user_cmd.add_argument("--email", required=True)
    password = create_user_cmd.add_mutually_exclusive_group()
    password.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of standard input"
    )
    password.add_argument(
        "--password",
        help="the password itself, for scripts only: it lands in the shell's history and the process list",
    )
    create_user_cmd.add_argument("--tenant", required=True, help="the tenant's business_id")
    create_user_cmd.add_argument("--role", required=True, choices=["owner", "agent", "admin", "customer"])
    create_user_cmd.add_argument("--name", default="")

    vapid = commands.add_parser("vapid", help="Web Push keys").add_subparsers(dest="action", required=True)
    vapid.add_parser(
        "generate",
        help="print a new VAPID key pair (for HUB_VAPID_PRIVATE_KEY) as JSON",
        description="Print a new VAPID key pair as JSON: private_key (base64url, for HUB_VAPID_PRIVATE_KEY), "
        "the same key as PEM, and public_key (what browsers subscribe with; the hub derives it itself). "
        "Every node gets the same private key; changing it ends every browser's subscription.",
    )

    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(dest="action", required=True)
    create = tenant.add_parser("create", help="create a tenant and print it as JSON")
    create.add_argument("--name", required=True)
    create.add_argument("--business-id", required=True)
    create.add_argument("--origin", action="append", default=[], help="allowed browser origin (repeatable)")
    create.add_argument("--plan", default="starter", choices=["starter", "pro", "enterprise"])
    return parser


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None


def _settings() -> Settings:
    settings = Settings.from_env()
    if settings.secret_key_is_ephemeral:
        if settings.redis_url:
            raise SettingsError("HUB_SECRET_KEY must be set when HUB_REDIS_URL is: every node must share it")
        # Single node on the embedded default: keep one secret across restarts so resume tokens stay valid.
        path = Path(SECRET_FILE)
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        secret = path.read_text().strip()
        os.environ["HUB_SECRET_KEY"] = secret
        settings = settings.with_overrides(secret_key=secret, secret_key_is_ephemeral=False)
    return settings


async def _migrate(settings: Settings) -> None:
    await migrate_database(settings.database_url)


async def _create_tenant(
    settings: Settings, name: str, business_id: str, origins: list[str], plan: str = "starter"
) -> dict[str, Any]:
    await migrate_database(settings.database_url)
    engine = open_engine(settings.database_url, settings.database_timeout_s)
    try:
        async with engine.begin() as connection:
            opened = await open_tenant(connection, name=name, business_id=business_id, origins=origins, plan=plan)
    finally:
        await engine.dispose()
    return {
        "uuid": opened.tenant.id,
        "business_id": opened.tenant.business_id,
        "name": opened.tenant.name,
        "origins": list(opened.tenant.origins),
        "plan": opened.tenant.plan,
        "widget_key": opened.widget_key.key,
    }


async def _create_user(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    await migrate_database(settings.database_url)
    engine = open_engine(settings.database_url, settings.database_timeout_s)
    try:
        tenant = await get_tenant_by_business_id(engine, args.tenant)
        if tenant is None:
            raise InvalidInput(f"no tenant with business_id {args.tenant!r}")
        kind = "customer" if args.role == "customer" else "staff"
        account = await new_account(
            Passwords(settings.password_hashing),
            email=args.email,
            password=args.password,
            role=args.role,
            kind=kind,
            name=args.name,
        )
        async with engine.begin() as connection:
            user = await add_account(connection, tenant.id, account)
    finally:
        await engine.dispose()
    return {"id": user.id, "email": user.email, "kind": user.kind, "role": user.role, "business_id": tenant.business_id}


def _read_password(*, from_stdin: bool) -> str:
    """The new account's password from a pipe or a prompt, never from the command line (shell history)."""
    if from_stdin:
        line = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not line:
            raise InvalidInput("--password-stdin: no password on the first line of standard input")
        return line
    if not sys.stdin.isatty():
        raise InvalidInput("no password: pipe it with --password-stdin, or run in a terminal to be asked for it")
    try:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise InvalidInput("the two passwords differ; nothing was created")
    except (EOFError, KeyboardInterrupt):
        raise InvalidInput("no password given; nothing was created") from None
    return password


async def _ensure_demo(settings: Settings) -> list[dict[str, Any]]:
    await migrate_database(settings.database_url)
    engine = open_engine(settings.database_url, settings.database_timeout_s)
    passwords = Passwords(settings.password_hashing)
    made = []
    try:
        for spec in DEMO_TENANTS:
            email, password, role, display_name = spec["user"]
            tenant = await get_tenant_by_business_id(engine, str(spec["business_id"]))
            missing_key = tenant is not None and not await list_widget_keys(engine, tenant.id)
            user = await find_user(engine, "staff", str(email))
            account = (
                await new_account(
                    passwords, email=str(email), password=str(password), role=str(role), name=str(display_name)
                )
                if user is None
                else None
            )
            if user is not None and user.name == str(email).split("@", 1)[0]:
                # Made by an older --demo, named after the email ("customer"): visitors read a person's name.
                await rename_user(engine, user.tenant_id, user.id, str(display_name))
            async with engine.begin() as connection:  # what is missing of one demo tenant, all at once
                if tenant is None:
                    opened = await open_tenant(
                        connection,
                        name=str(spec["name"]),
                        business_id=str(spec["business_id"]),
                        origins=list(spec["origins"]),
                        owner=account,
                    )
                    tenant = opened.tenant
                else:
                    if missing_key:
                        await create_widget_key(connection, tenant.id, tenant.origins)
                    if account is not None:
                        await add_account(connection, tenant.id, account)
            async with engine.begin() as connection:  # a demo tenant without knowledge gets the demo's
                if not await knowledge.count_entries(connection, tenant.id):
                    rows = [
                        {"title": title, "body": body, "url": url, "language": language, "enabled": True}
                        for language, title, body, url in DEMO_KNOWLEDGE.get(tenant.business_id, ())
                    ]
                    await knowledge.insert_entries(connection, tenant.id, rows)
            if not await list_canned(engine, tenant.id):  # something to find with "/" in Mission Control
                for title, text in DEMO_CANNED:
                    await create_canned(engine, tenant.id, title, text)
            await seed_demo_conversations(engine, tenant.id, tenant.business_id)  # labels for the filter bar
            made.append(
                {
                    "uuid": tenant.id,
                    "business_id": tenant.business_id,
                    "name": tenant.name,
                    "login": f"{email} / {password}",
                    "widget_keys": [key.key for key in await list_widget_keys(engine, tenant.id)],
                }
            )
    finally:
        await engine.dispose()
    return made


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "vapid":  # needs no settings, no database: a key pair to paste into the environment
        print(json.dumps(generate_vapid_keys()))
        return 0
    try:
        settings = _settings()
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
            print("schema is up to date", file=sys.stderr)
            return 0
        if args.command == "user":
            if args.password is None:
                args.password = _read_password(from_stdin=args.password_stdin)
            print(json.dumps(asyncio.run(_create_user(settings, args))))
            return 0
        if args.command == "tenant":
            created = _create_tenant(settings, args.name, args.business_id, args.origin, args.plan)
            print(json.dumps(asyncio.run(created)))
            return 0
        return _serve(settings, args)
    except SettingsError as exc:
        print(f"bob-hub: configuration error: {exc}", file=sys.stderr)
        return 2
    except HubError as exc:
        print(f"bob-hub: {exc.message}", file=sys.stderr)
        return 1


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    port = args.port if args.port is not None else _env_int("PORT", 8000)
    workers = args.workers if args.workers is not None else _env_int("WEB_CONCURRENCY", 1)
    if workers < 1:
        raise SettingsError("--workers (WEB_CONCURRENCY) must be at least 1")
    if workers > 1 and not settings.redis_url:
        raise SettingsError("several workers need HUB_REDIS_URL: without Redis, workers cannot share sessions")
    configure(settings.log_level, settings.log_format)
    asyncio.run(_migrate(settings))
    if args.demo:
        for tenant in asyncio.run(_ensure_demo(settings)):
            base = f"ws://{args.host}:{port}"
            print(
                f"demo tenant {tenant['business_id']}: uuid {tenant['uuid']}  "
                f"visitor socket {base}/ws/visitor/{tenant['uuid']}  login {tenant['login']}  "
                f"widget keys {', '.join(tenant['widget_keys']) or '-'}",
                file=sys.stderr,
            )
        web = f"http://{args.host}:{port}"
        print(
            f"open {web}/portal/login (Customer Portal), {web}/mission-control (Mission Control), "
            f"{web}/docs (API docs)",
            file=sys.stderr,
        )
    uvicorn.run(
        "hub.app:app_from_env",
        factory=True,
        host=args.host,
        port=port,
        workers=workers,
        ws="websockets-sansio",
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=settings.ws_ping_interval_s or None,
        ws_ping_timeout=settings.ws_ping_interval_s or None,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        log_level=settings.log_level,
        # JSON: uvicorn's records go to the hub's one handler (None: uvicorn configures no logging of its own).
        log_config=None if settings.log_format == "json" else LOGGING_CONFIG,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
