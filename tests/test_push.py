"""Alerts that reach people: Web Push to every agent who turned it on, when a visitor starts waiting for a
person and again when the wait outgrows the tenant's limit, each sent once whatever the number of nodes.

The push service is a local receiver (tests/push_receiver.py) that checks the VAPID signature and
decrypts each payload with the keys of the "browser" that subscribed, as a real push service and
browser would: subscriptions are made through the API with real P-256 keys and auth secrets.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from hub.mail import MemoryMailer
from hub.push.vapid import generate
from hub.settings import Settings
from hub.store.database import open_engine
from hub.store.models import Tenant
from hub.store.tables import handoffs, push_subscriptions
from tests.accounts import create_user
from tests.agents import PASSWORD, agent_account, login
from tests.conftest import RunningHub, serve_hub, two_hubs, visitor
from tests.push_receiver import Device, PushService, push_service
from tests.test_handoff import handoff_message
from tests.webhook_receiver import receiver

KEYS = generate()


@pytest.fixture
def push_settings(settings: Settings) -> Settings:
    return with_push(settings)


def with_push(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        vapid_private_key=KEYS["private_key"],
        vapid_subject="mailto:ops@bob.example.com",
        push_allow_private=True,  # the receiver is on loopback, over http
        webhooks_allow_private=True,
    )


@pytest.fixture
async def pushes() -> AsyncIterator[PushService]:
    async with push_service() as service:
        service.vapid_public_key = KEYS["public_key"]
        yield service


async def agent_client(
    hub: RunningHub, tenant: Tenant, name: str, role: str = "agent", **headers: str
) -> httpx.AsyncClient:
    token = (await login(hub.http, await agent_account(hub.node.engine, tenant.id, name, role)))["token"]
    return httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}", **headers})


async def subscribe(client: httpx.AsyncClient, device: Device) -> dict[str, Any]:
    response = await client.post("/api/push/subscriptions", json=device.subscription())
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def ask_for_a_person(hub: RunningHub, tenant: Tenant, note: str | None = None) -> str:
    async with visitor(hub.ws, tenant.id) as client:
        await client.send({"type": "handoff", **({"reason": note} if note else {})})
        await client.until(handoff_message)
        session_id: str = client.ready["session_id"]
    return session_id


async def subscription_rows(hub: RunningHub, tenant: Tenant) -> list[Any]:
    async with hub.node.engine.connect() as connection:
        query = select(push_subscriptions).where(push_subscriptions.c.tenant_id == tenant.id)
        return list((await connection.execute(query)).all())


async def test_an_agent_who_turned_on_push_gets_the_waiting_visitor_on_each_device_decrypted_in_their_language(
    push_settings: Settings, pushes: PushService
) -> None:
    async with serve_hub(push_settings) as hub:
        tenant = await hub.tenant()
        async with (
            await agent_client(hub, tenant, "Anna") as anna,
            await agent_client(hub, tenant, "Piotr", **{"Accept-Language": "pl-PL,pl;q=0.9"}) as piotr,
        ):
            offer = await anna.get("/api/push/key")
            assert offer.status_code == 200 and offer.json() == {"public_key": KEYS["public_key"]}
            phone, laptop, polish = pushes.device("anna-phone"), pushes.device("anna-laptop"), pushes.device("piotr")
            saved = await subscribe(anna, phone)
            assert saved["endpoint"] == phone.endpoint and saved["language"] == "en"
            await subscribe(anna, laptop)
            assert (await subscribe(piotr, polish))["language"] == "pl"
            resubscribed = await subscribe(anna, phone)
            assert resubscribed["id"] == saved["id"] and resubscribed["endpoint"] == saved["endpoint"]
            assert len(await subscription_rows(hub, tenant)) == 3, "a browser subscribing again replaces its own"

            session_id = await ask_for_a_person(hub, tenant, "I want to change my order")
            await pushes.wait_for(lambda got: len(got.received) == 3)
        assert not pushes.refused
        [alert] = pushes.to("anna-phone")
        assert alert == {
            "type": "handoff_requested",
            "title": "A visitor is waiting for a person",
            "body": "They asked for a person. “I want to change my order”",
            "url": f"/mission-control#session={session_id}",
            "session_id": session_id,
            "reason": "visitor",
            "tag": f"handoff-{session_id}",
            "waiting_since": alert["waiting_since"],
        }
        assert pushes.to("anna-laptop") == [alert]
        [in_polish] = pushes.to("piotr")
        assert (in_polish["title"], in_polish["url"]) == ("Odwiedzający czeka na człowieka", alert["url"])
        push = next(p for p in pushes.received if p.device == "anna-phone")
        assert push.headers["urgency"] == "high" and int(push.headers["ttl"]) > 0


async def test_subscriptions_are_checked_and_an_agent_only_touches_their_own(
    push_settings: Settings, pushes: PushService
) -> None:
    async with serve_hub(push_settings) as hub:
        tenant = await hub.tenant()
        device = pushes.device("phone")
        good = device.subscription()
        bad_bodies: list[Any] = [
            {},
            {"endpoint": device.endpoint},
            {"endpoint": "ftp://push.example.com/x", "keys": good["keys"]},
            {"endpoint": "https://user:pw@push.example.com/x", "keys": good["keys"]},
            {"endpoint": "https://push.example.com/" + "x" * 1100, "keys": good["keys"]},
            {"endpoint": device.endpoint, "keys": {"p256dh": "not base64!", "auth": good["keys"]["auth"]}},
            {"endpoint": device.endpoint, "keys": {"p256dh": good["keys"]["auth"], "auth": good["keys"]["auth"]}},
            {"endpoint": device.endpoint, "keys": {"p256dh": "B" + good["keys"]["p256dh"][1:], "auth": "AAAA"}},
            {"endpoint": device.endpoint, "keys": {"p256dh": good["keys"]["p256dh"], "auth": "AAAA"}},
            {"endpoint": device.endpoint, "keys": {"p256dh": good["keys"]["p256dh"], "auth": "A"}},
            {"endpoint": device.endpoint, "keys": {"p256dh": good["keys"]["p256dh"], "auth": "AAAA\u0000"}},
            {"endpoint": 5, "keys": good["keys"]},
            [good],
        ]
        async with await agent_client(hub, tenant, "Anna") as anna:
            for body in bad_bodies:
                response = await anna.post("/api/push/subscriptions", json=body)
                assert response.status_code == 400, (body, response.text)
                error = response.json()["error"]
                assert error["code"] == "invalid_input" and set(error) == {"code", "message"}, error
            not_json = await anna.post("/api/push/subscriptions", content=b"{", headers={"Content-Type": "text/plain"})
            assert not_json.status_code == 415 and not_json.json()["error"]["code"] == "unsupported_media_type"
            await subscribe(anna, device)
            async with await agent_client(hub, tenant, "Ben") as ben:
                gone = await ben.request("DELETE", "/api/push/subscriptions", json={"endpoint": device.endpoint})
                assert gone.status_code == 404, "Ben cannot turn off Anna's alerts"
            off = await anna.request("DELETE", "/api/push/subscriptions", json={"endpoint": device.endpoint})
            assert off.status_code == 204 and await subscription_rows(hub, tenant) == []
            again = await anna.request("DELETE", "/api/push/subscriptions", json={"endpoint": device.endpoint})
            assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
        await create_user(
            hub.node.engine,
            tenant_id=tenant.id,
            email="cleo@shop.example.com",
            password=PASSWORD,
            role="customer",
            kind="customer",
        )
        async with httpx.AsyncClient(base_url=hub.http) as customer:
            logged_in = await customer.post(
                "/api/customers/auth/login", json={"email": "cleo@shop.example.com", "password": PASSWORD}
            )
            customer.headers["Authorization"] = f"Bearer {logged_in.json()['token']}"
            refused = await customer.post("/api/push/subscriptions", json=good)
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        async with httpx.AsyncClient(base_url=hub.http) as anonymous:
            assert (await anonymous.post("/api/push/subscriptions", json=good)).status_code == 401
            assert (await anonymous.get("/api/push/key")).status_code == 401


async def test_private_endpoints_are_refused_and_a_hub_without_a_key_offers_no_push(settings: Settings) -> None:
    async with serve_hub(settings) as hub:
        tenant = await hub.tenant()
        async with push_service() as pushes, await agent_client(hub, tenant, "Anna") as anna:
            assert (await anna.get("/api/push/key")).json() == {"public_key": None}
            local = pushes.device("phone").subscription()
            refused = await anna.post("/api/push/subscriptions", json=local)
            assert refused.status_code == 400 and "https" in refused.json()["error"]["message"]
            private = {**local, "endpoint": "https://10.1.2.3/push/x"}
            refused = await anna.post("/api/push/subscriptions", json=private)
            assert refused.status_code == 400 and "private" in refused.json()["error"]["message"]
            public = {**local, "endpoint": "https://push.example.com/push/x"}
            unoffered = await anna.post("/api/push/subscriptions", json=public)
            assert unoffered.status_code == 409 and unoffered.json()["error"]["code"] == "push_not_offered"


async def test_a_subscription_the_push_service_calls_gone_is_deleted(
    push_settings: Settings, pushes: PushService
) -> None:
    async with serve_hub(push_settings) as hub:
        tenant = await hub.tenant()
        async with await agent_client(hub, tenant, "Anna") as anna:
            old, current = pushes.device("old-phone"), pushes.device("current-phone")
            await subscribe(anna, old)
            await subscribe(anna, current)
        old.status = 410  # the browser unsubscribed, or the app was uninstalled
        await ask_for_a_person(hub, tenant)
        await pushes.wait_for(lambda got: len(got.to("current-phone")) == 1 and "answered 410" in got.refused)
        for _ in range(50):
            rows = await subscription_rows(hub, tenant)
            if len(rows) == 1:
                break
            await asyncio.sleep(0.05)
        assert [row.endpoint for row in rows] == [current.endpoint]


async def test_an_agent_of_another_tenant_never_gets_its_alerts(push_settings: Settings, pushes: PushService) -> None:
    async with serve_hub(push_settings) as hub:
        shop_a, shop_b = await hub.tenant(), await hub.tenant()
        async with await agent_client(hub, shop_a, "Anna") as anna, await agent_client(hub, shop_b, "Bea") as bea:
            await subscribe(anna, pushes.device("anna"))
            await subscribe(bea, pushes.device("bea"))
        await ask_for_a_person(hub, shop_a)
        await pushes.wait_for(lambda got: len(got.to("anna")) == 1)
        await asyncio.sleep(1.5)  # a sweep or more later: still nothing for tenant B
        assert pushes.to("bea") == []
        await ask_for_a_person(hub, shop_b)
        await pushes.wait_for(lambda got: len(got.to("bea")) == 1)
        assert len(pushes.to("anna")) == 1


async def make_overdue(hub: RunningHub, tenant: Tenant) -> None:
    """Time passes: the tenant's open waits reach their escalate_at now."""
    async with hub.node.engine.begin() as connection:
        await connection.execute(
            update(handoffs)
            .where(handoffs.c.tenant_id == tenant.id, handoffs.c.ended_at.is_(None))
            .values(escalate_at=datetime.now(UTC) - timedelta(seconds=1))
        )


async def test_a_visitor_still_waiting_after_the_limit_alerts_again_once_on_two_nodes_with_a_webhook(
    shared_settings: Settings, pushes: PushService
) -> None:
    async with (
        receiver() as hooks,
        two_hubs(with_push(shared_settings).with_overrides(ai_provider="none")) as (node_a, node_b),
    ):
        tenant = await node_a.tenant()
        async with await agent_client(node_b, tenant, "Olga", "owner") as owner:
            changed = await owner.patch("/api/settings", json={"escalate_after_s": 30})
            assert changed.status_code == 200 and changed.json()["escalate_after_s"] == 30
            endpoint = await owner.post(
                "/api/webhooks",
                json={"url": hooks.url, "events": ["session.handoff_requested", "session.handoff_escalated"]},
            )
            hooks.secret = endpoint.json()["secret"]
            await subscribe(owner, pushes.device("olga"))
        async with await agent_client(node_a, tenant, "Anna") as anna:
            await subscribe(anna, pushes.device("anna"))
        for node in (node_a, node_b):
            node.node.forget_tenant(tenant.id)

        session_id = await ask_for_a_person(node_a, tenant)
        await pushes.wait_for(lambda got: len(got.received) == 2)
        [handoff] = await handoff_rows(node_a, tenant)
        assert handoff.escalate_at - handoff.requested_at == timedelta(seconds=30), "the tenant's limit"
        await asyncio.sleep(2.5)  # both nodes sweep twice or more: no second first alert
        assert [p.payload["type"] for p in pushes.received] == ["handoff_requested"] * 2

        await make_overdue(node_b, tenant)
        await pushes.wait_for(lambda got: len(got.received) == 4)
        await hooks.wait_for(lambda got: len(hooks.of_type("session.handoff_escalated")) == 1)
        await asyncio.sleep(2.5)
        assert [p.payload["type"] for p in pushes.received] == ["handoff_requested"] * 2 + ["handoff_escalated"] * 2
        assert {p.device for p in pushes.received[2:]} == {"anna", "olga"}
        escalated = pushes.to("anna")[-1]
        assert escalated["session_id"] == session_id and "still waiting" in escalated["title"]
        assert escalated["url"] == f"/mission-control#session={session_id}"
        [event] = hooks.of_type("session.handoff_escalated")
        assert len(hooks.of_type("session.handoff_requested")) == 1
        assert event["data"]["session_id"] == session_id and event["data"]["reason"] == "visitor"
        assert event["data"]["waited_s"] >= 0 and event["data"]["waiting_since"]
        [handoff] = await handoff_rows(node_a, tenant)
        assert handoff.alerted_at is not None and handoff.escalated_at is not None


async def handoff_rows(hub: RunningHub, tenant: Tenant) -> list[Any]:
    async with hub.node.engine.connect() as connection:
        query = select(handoffs).where(handoffs.c.tenant_id == tenant.id).order_by(handoffs.c.requested_at)
        return list((await connection.execute(query)).all())


async def test_an_escalation_due_while_every_node_was_down_is_sent_when_one_comes_back(
    push_settings: Settings, pushes: PushService
) -> None:
    async with serve_hub(push_settings) as hub:
        tenant = await hub.tenant()
        async with await agent_client(hub, tenant, "Anna") as anna:
            await subscribe(anna, pushes.device("anna"))
        await ask_for_a_person(hub, tenant)
        await pushes.wait_for(lambda got: len(got.received) == 1)
    engine = open_engine(push_settings.database_url)  # the limit passes while no node runs
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(handoffs).where(handoffs.c.tenant_id == tenant.id).values(escalate_at=datetime.now(UTC))
            )
    finally:
        await engine.dispose()
    assert len(pushes.received) == 1
    async with serve_hub(push_settings) as again:
        await pushes.wait_for(lambda got: len(got.received) == 2)
        assert pushes.received[-1].payload["type"] == "handoff_escalated"
        [handoff] = await handoff_rows(again, tenant)
        assert handoff.escalated_at is not None


async def test_a_wait_taken_over_in_time_is_never_escalated(push_settings: Settings, pushes: PushService) -> None:
    from tests.agents import agent_socket

    async with serve_hub(push_settings) as hub:
        tenant = await hub.tenant()
        token = (await login(hub.http, await agent_account(hub.node.engine, tenant.id, "Anna")))["token"]
        async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"}) as anna:
            await subscribe(anna, pushes.device("anna"))
        async with visitor(hub.ws, tenant.id) as client, agent_socket(hub.ws, token=token) as agent:
            await client.send({"type": "handoff"})
            await client.until(handoff_message)
            await pushes.wait_for(lambda got: len(got.received) == 1)
            taken = await agent.command({"type": "takeover", "session_id": client.ready["session_id"]})
            assert taken["type"] == "ok"
        await make_overdue(hub, tenant)  # nothing is open any more: nothing to move
        async with hub.node.engine.begin() as connection:
            await connection.execute(
                update(handoffs).where(handoffs.c.tenant_id == tenant.id).values(escalate_at=datetime.now(UTC))
            )
        await asyncio.sleep(2.5)
        assert [p.payload["type"] for p in pushes.received] == ["handoff_requested"]


async def test_the_service_worker_is_served_for_mission_controls_scope_and_may_fetch_nothing(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        worker = await client.get("/mission-control/sw.js")
    assert worker.status_code == 200 and worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["service-worker-allowed"] == "/mission-control"
    assert worker.headers["cache-control"] == "no-cache", "a new hub's worker replaces the old at the next check"
    assert "default-src 'none'" in worker.headers["content-security-policy"], "it shows alerts and fetches nothing"
    assert 'addEventListener("push"' in worker.text and 'addEventListener("notificationclick"' in worker.text


async def test_the_sweeper_takes_a_bounded_batch_per_tick_and_works_through_a_backlog(
    push_settings: Settings, pushes: PushService
) -> None:
    async with serve_hub(push_settings) as hub:
        hub.node.alerts.batch = 2  # a backlog bigger than one tick's query
        tenant = await hub.tenant()
        async with await agent_client(hub, tenant, "Anna") as anna:
            await subscribe(anna, pushes.device("anna"))
        sessions = [await ask_for_a_person(hub, tenant) for _ in range(5)]
        await pushes.wait_for(lambda got: len(got.received) == 5)
        await make_overdue(hub, tenant)
        await pushes.wait_for(lambda got: len(got.received) == 10, timeout=15)
        await asyncio.sleep(1.5)
    escalated = [p.payload["session_id"] for p in pushes.received if p.payload["type"] == "handoff_escalated"]
    assert sorted(escalated) == sorted(sessions), "each wait escalated once"


async def test_an_escalation_emails_each_active_owner_once_and_no_agent(settings: Settings) -> None:
    mailer = MemoryMailer()
    async with serve_hub(settings.with_overrides(public_url="https://chat.example.com"), mailer=mailer) as hub:
        tenant = await hub.tenant()
        owner = await agent_account(hub.node.engine, tenant.id, "Olga", "owner")
        await agent_account(hub.node.engine, tenant.id, "Anna")  # an agent: alerted by push, never emailed
        session_id = await ask_for_a_person(hub, tenant, "my order never came")
        await asyncio.sleep(1.5)
        assert mailer.sent == [], "no email before the limit"
        await make_overdue(hub, tenant)
        [email] = await mailer.wait_for(1)
        assert email.to == owner and email.subject == "A visitor of Acme Test has waited 1 min for a person"
        assert "Why: visitor (my order never came)" in email.text
        assert f"https://chat.example.com/mission-control#session={session_id}" in email.text
        await asyncio.sleep(2.5)  # more sweeps: the escalation was claimed once
        assert len(mailer.sent) == 1
