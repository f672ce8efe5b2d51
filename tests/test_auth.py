"""Accounts: login by Bearer token or cookie + CSRF, logout, throttling, and the CLI that makes users."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select

from hub.store.tables import auth_tokens, users
from tests.accounts import create_user
from tests.conftest import RunningHub
from tests.services import TEST_PASSWORD_HASHING


async def make_user(hub: RunningHub, role: str = "agent", kind: str = "staff") -> tuple[str, str]:
    tenant = await hub.tenant()
    email = f"{role}-{tenant.business_id}@example.com"
    await create_user(hub.node.engine, tenant_id=tenant.id, email=email, password="s3cret-pass", role=role, kind=kind)
    return email, tenant.id


async def test_login_returns_bearer_token_cookie_session_and_csrf_token(hub: RunningHub) -> None:
    email, tenant_id = await make_user(hub, "owner")
    async with httpx.AsyncClient(base_url=hub.http) as client:
        response = await client.post("/api/auth/login", json={"email": email.upper(), "password": "s3cret-pass"})
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "Bearer" and body["token"].startswith("bob_") and body["csrf_token"]
        assert body["user"]["tenant_id"] == tenant_id and "chat.manage" in body["user"]["permissions"]
        cookies = response.headers.get_list("set-cookie")
        session = next(cookie for cookie in cookies if cookie.startswith("bob_session="))
        assert "HttpOnly" in session and "SameSite=strict" in session
        me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
        assert me.status_code == 200 and me.json()["email"] == email


async def test_tokens_are_stored_hashed_and_passwords_with_argon2(hub: RunningHub) -> None:
    email, _ = await make_user(hub)
    async with httpx.AsyncClient(base_url=hub.http) as client:
        token = (await client.post("/api/auth/login", json={"email": email, "password": "s3cret-pass"})).json()["token"]
    async with hub.node.engine.connect() as connection:
        hashes = (await connection.execute(select(auth_tokens.c.token_hash))).scalars().all()
        password_hash = await connection.scalar(select(users.c.password_hash).where(users.c.email == email))
    assert token not in hashes and len(hashes) == 1
    assert password_hash is not None and password_hash.startswith("$argon2id$")


async def test_wrong_password_and_unknown_email_get_the_same_401(hub: RunningHub) -> None:
    email, _ = await make_user(hub)
    async with httpx.AsyncClient(base_url=hub.http) as client:
        wrong = await client.post("/api/auth/login", json={"email": email, "password": "nope-nope"})
        unknown = await client.post("/api/auth/login", json={"email": "who@example.com", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json() == unknown.json() == {"error": {"code": "unauthenticated", "message": "wrong email or password"}}
    )


async def test_failed_logins_are_throttled_with_retry_after(hub: RunningHub) -> None:
    email, _ = await make_user(hub)
    async with httpx.AsyncClient(base_url=hub.http) as client:
        for _ in range(5):
            assert (await client.post("/api/auth/login", json={"email": email, "password": "x" * 9})).status_code == 401
        blocked = await client.post("/api/auth/login", json={"email": email, "password": "s3cret-pass"})
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(blocked.headers["retry-after"]) <= 60


async def test_logout_revokes_the_token(hub: RunningHub) -> None:
    email, _ = await make_user(hub)
    async with httpx.AsyncClient(base_url=hub.http) as client:
        token = (await client.post("/api/auth/login", json={"email": email, "password": "s3cret-pass"})).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await client.post("/api/auth/logout", headers=bearer)).status_code == 204
        after = await client.get("/api/auth/me", headers=bearer)
    assert after.status_code == 401 and after.json()["error"]["code"] == "unauthenticated"


async def test_cookie_session_needs_csrf_token_for_unsafe_requests(hub: RunningHub) -> None:
    email, _ = await make_user(hub)
    async with httpx.AsyncClient(base_url=hub.http) as client:
        body = (await client.post("/api/auth/login", json={"email": email, "password": "s3cret-pass"})).json()
        assert (await client.get("/api/auth/me")).status_code == 200, "the cookie alone may read"
        refused = await client.post("/api/auth/logout")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        wrong = await client.post("/api/auth/logout", headers={"X-CSRF-Token": "guess"})
        assert wrong.status_code == 403
        done = await client.post("/api/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
        assert done.status_code == 204


async def test_customer_login_only_knows_customer_accounts(hub: RunningHub) -> None:
    staff_email, _ = await make_user(hub, "owner")
    customer_email, _ = await make_user(hub, "customer", kind="customer")
    async with httpx.AsyncClient(base_url=hub.http) as client:
        staff_there = await client.post(
            "/api/customers/auth/login", json={"email": staff_email, "password": "s3cret-pass"}
        )
        customer = await client.post(
            "/api/customers/auth/login", json={"email": customer_email, "password": "s3cret-pass"}
        )
        customer_on_staff = await client.post(
            "/api/auth/login", json={"email": customer_email, "password": "s3cret-pass"}
        )
    assert staff_there.status_code == 401 and customer_on_staff.status_code == 401
    assert customer.status_code == 200 and customer.json()["user"]["permissions"] == []


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[]", "application/json", 400),
        (b'{"email": 5, "password": "x"}', "application/json", 400),
        (b'{"email": "a@b.co"}', "application/json", 400),
        (b"email=a&password=b", "application/x-www-form-urlencoded", 415),
        (b'{"email": "a@b.co", "password": "' + b"p" * 5000 + b'"}', "application/json", 413),
    ],
)
async def test_bad_login_bodies_get_clear_json_errors(
    hub: RunningHub, body: bytes, content_type: str, status: int
) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        response = await client.post("/api/auth/login", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] and error["message"]


async def test_anonymous_and_bad_tokens_get_401(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        assert (await client.get("/api/auth/me")).status_code == 401
        bad = await client.get("/api/auth/me", headers={"Authorization": "Bearer bob_made_up"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthenticated"


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "HUB_PASSWORD_HASHING": TEST_PASSWORD_HASHING,
    }
    env.pop("HUB_REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


def test_cli_creates_users_for_a_tenant(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "tenant", "create", "--name", "Shop", "--business-id", "shop").returncode == 0
    made = run_cli(
        tmp_path,
        "user",
        "create",
        "--email",
        "Ann@Shop.com",
        "--password",
        "long-enough",
        "--tenant",
        "shop",
        "--role",
        "agent",
    )
    assert made.returncode == 0, made.stderr
    user = orjson.loads(made.stdout)
    assert user["email"] == "ann@shop.com" and user["role"] == "agent" and user["business_id"] == "shop"
    again = run_cli(
        tmp_path,
        "user",
        "create",
        "--email",
        "ann@shop.com",
        "--password",
        "long-enough",
        "--tenant",
        "shop",
        "--role",
        "agent",
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    short = run_cli(
        tmp_path,
        "user",
        "create",
        "--email",
        "bo@shop.com",
        "--password",
        "short",
        "--tenant",
        "shop",
        "--role",
        "owner",
    )
    assert short.returncode == 1 and "at least 8" in short.stderr
    nowhere = run_cli(
        tmp_path,
        "user",
        "create",
        "--email",
        "cy@shop.com",
        "--password",
        "long-enough",
        "--tenant",
        "nope",
        "--role",
        "owner",
    )
    assert nowhere.returncode == 1 and "no tenant" in nowhere.stderr


async def test_without_demo_no_default_password_exists(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        for email, password in (
            ("admin@office16852.com", "your_password"),
            ("customer@business.com", "customer_password"),
        ):
            response = await client.post("/api/auth/login", json={"email": email, "password": password})
            assert response.status_code == 401
    async with hub.node.engine.connect() as connection:
        assert (await connection.execute(select(users.c.email))).all() == []
