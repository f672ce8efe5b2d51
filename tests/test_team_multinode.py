"""Ending a teammate's logins across hub processes sharing one Redis and one PostgreSQL: deactivated (or a new
password set) on node A, their Mission Control socket on node B closes within a moment and node B refuses
their token at once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from hub.store.database import open_engine
from hub.store.models import Tenant
from tests.agents import agent_account, agent_socket, login
from tests.conftest import SECRET
from tests.services import HubProcess, two_nodes
from tests.test_team import closed_with


@pytest.fixture(scope="module")
def nodes(redis_url: str, postgres_url: str) -> Iterator[tuple[HubProcess, HubProcess]]:
    env = {
        "HUB_SECRET_KEY": SECRET,
    }
    with two_nodes(redis_url, postgres_url, env) as pair:
        yield pair


async def accounts(postgres_url: str, tenant: Tenant, *names: tuple[str, str]) -> list[str]:
    engine = open_engine(postgres_url)
    try:
        return [await agent_account(engine, tenant.id, name, role) for name, role in names]
    finally:
        await engine.dispose()


async def test_deactivating_on_node_a_closes_the_agents_socket_on_node_b_and_node_b_refuses_the_token(
    nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant, postgres_url: str
) -> None:
    node_a, node_b = nodes
    owner_email, agent_email = await accounts(postgres_url, pg_tenant, ("Olga", "owner"), ("Anna", "agent"))
    owner, agent = await login(node_a.http, owner_email), await login(node_b.http, agent_email)
    bearer = {"Authorization": f"Bearer {agent['token']}"}
    async with agent_socket(node_b.ws, token=agent["token"]) as socket, httpx.AsyncClient() as http:
        assert (await http.get(f"{node_b.http}/api/auth/me", headers=bearer)).status_code == 200
        acted = time.monotonic()
        answer = await http.post(
            f"{node_a.http}/api/users/{agent['user']['id']}/deactivate",
            headers={"Authorization": f"Bearer {owner['token']}"},
        )
        assert answer.status_code == 200, answer.text
        refused = await http.get(f"{node_b.http}/api/auth/me", headers=bearer)
        assert refused.status_code == 401, "node B reads the token from the store: refused at once"
        assert await closed_with(socket, timeout=5) == (4401, "account deactivated: this login has ended")
        took = time.monotonic() - acted
        assert took < 2.0, f"node B closed the socket {took:.2f} s after the deactivation"


async def test_a_new_password_set_on_node_a_ends_the_old_login_on_node_b_but_not_the_new_one(
    nodes: tuple[HubProcess, HubProcess], pg_tenant: Tenant, postgres_url: str
) -> None:
    node_a, node_b = nodes
    owner_email, agent_email = await accounts(postgres_url, pg_tenant, ("Otto", "owner"), ("Bea", "agent"))
    owner, agent = await login(node_a.http, owner_email), await login(node_b.http, agent_email)
    async with agent_socket(node_b.ws, token=agent["token"]) as old, httpx.AsyncClient() as http:
        made = await http.post(
            f"{node_a.http}/api/users/{agent['user']['id']}/password-link",
            headers={"Authorization": f"Bearer {owner['token']}"},
        )
        token = made.json()["link"].rsplit("/", 1)[1]
        done = await http.post(
            f"{node_a.http}/api/auth/password-reset/complete", json={"token": token, "password": "fresh-pass-1"}
        )
        assert done.status_code == 200, done.text
        async with agent_socket(node_b.ws, token=done.json()["token"]) as new:
            assert await closed_with(old, timeout=5) == (4401, "password reset: this login has ended; log in again")
            await new.send({"type": "ping"})
            assert (await new.until(lambda f: f["type"] == "pong"))[-1]["type"] == "pong", "the new login stays"
        stale = await http.get(f"{node_b.http}/api/auth/me", headers={"Authorization": f"Bearer {agent['token']}"})
        assert stale.status_code == 401
