"""Office hours: when a person of the team is meant to be there, in the tenant's own time zone, and what a
visitor who asks for a person outside them (or with nobody in Mission Control) is told: when a person
will next be there, in the visitor's language and time zone, and that they may leave an email address.
Time is a fixed clock given to the hub (no monkeypatching)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import select

from hub.mail import MemoryMailer
from hub.office_hours import OfficeHours, is_open, next_opening, when_text
from hub.settings import Settings
from hub.store.tables import handoffs, messages
from tests.agents import agent_account, agent_socket, login
from tests.conftest import RunningHub, serve_hub, visitor

WEEKDAYS_9_TO_17 = {
    "time_zone": "Europe/Warsaw",
    **{day: [{"opens": "09:00", "closes": "17:00"}] for day in ("mon", "tue", "wed", "thu", "fri")},
}
# Monday 7 December 2026, 20:00 in Warsaw (19:00 UTC): closed; the next opening is Tuesday 9:00 in Warsaw.
MONDAY_EVENING = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)
# Tuesday 8 December 2026, 10:00 in Warsaw: open.
TUESDAY_MORNING = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


def hours(spec: dict[str, Any]) -> OfficeHours:
    return msgspec.convert(spec, OfficeHours)


def test_office_hours_are_read_in_the_tenants_own_time_zone() -> None:
    warsaw = hours(WEEKDAYS_9_TO_17)
    assert not is_open(warsaw, MONDAY_EVENING)
    assert is_open(warsaw, TUESDAY_MORNING)
    assert next_opening(warsaw, MONDAY_EVENING) == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    # Friday 17:00 in Warsaw: closed for the weekend, open again on Monday.
    friday_close = datetime(2026, 12, 11, 16, 0, tzinfo=UTC)
    assert not is_open(warsaw, friday_close)
    assert next_opening(warsaw, friday_close) == datetime(2026, 12, 14, 8, 0, tzinfo=UTC)
    # The same hours in Tokyo open nine hours earlier in UTC than Warsaw's winter time (UTC+1 vs UTC+9).
    tokyo = hours({**WEEKDAYS_9_TO_17, "time_zone": "Asia/Tokyo"})
    assert next_opening(tokyo, MONDAY_EVENING) == datetime(2026, 12, 8, 0, 0, tzinfo=UTC)
    # Sunday evening in UTC is already Monday morning in Auckland.
    auckland = hours({**WEEKDAYS_9_TO_17, "time_zone": "Pacific/Auckland"})
    assert is_open(auckland, datetime(2026, 12, 6, 21, 0, tzinfo=UTC))


def test_openings_follow_daylight_saving_changes() -> None:
    warsaw = hours(WEEKDAYS_9_TO_17)
    # Warsaw moves to summer time on Sunday 28 March 2027: Monday 9:00 is 07:00 UTC, not 08:00.
    saturday = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)
    assert next_opening(warsaw, saturday) == datetime(2027, 3, 29, 7, 0, tzinfo=UTC)
    # An opening inside the skipped hour (02:30 that night) opens when the clock reaches it, 03:00 local.
    night = hours({"time_zone": "Europe/Warsaw", "sun": [{"opens": "02:30", "closes": "05:00"}]})
    assert next_opening(night, saturday) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert is_open(night, datetime(2027, 3, 28, 1, 45, tzinfo=UTC))


def test_the_next_opening_is_written_in_the_visitors_language_and_time_zone() -> None:
    tuesday_9_warsaw = datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    assert when_text(tuesday_9_warsaw, "en", "Europe/Warsaw") == "Tuesday 9:00 AM"
    assert when_text(tuesday_9_warsaw, "pl", "Europe/Warsaw") == "wtorek 09:00"
    assert when_text(tuesday_9_warsaw, "en", "America/New_York") == "Tuesday 3:00 AM"
    assert when_text(tuesday_9_warsaw, "pl", "Pacific/Honolulu") == "poniedziałek 22:00"


def test_a_week_without_hours_never_opens() -> None:
    closed = hours({"time_zone": "UTC"})
    assert not is_open(closed, MONDAY_EVENING)
    assert next_opening(closed, MONDAY_EVENING) is None


async def owner_client(hub: RunningHub, tenant_id: str, name: str = "Olga") -> httpx.AsyncClient:
    token = (await login(hub.http, await agent_account(hub.node.engine, tenant_id, name, "owner")))["token"]
    return httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(
    ("office_hours", "says"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "not an IANA time zone"),
        ({"time_zone": "Europe/Warsaw", "mon": [{"opens": "17:00", "closes": "09:00"}]}, "must be later than"),
        ({"time_zone": "Europe/Warsaw", "mon": [{"opens": "9:00", "closes": "17:00"}]}, "office_hours.mon[0].opens"),
        ({"time_zone": "Europe/Warsaw", "tue": [{"opens": "25:00", "closes": "26:00"}]}, "office_hours.tue[0].opens"),
        (
            {
                "time_zone": "Europe/Warsaw",
                "wed": [{"opens": "09:00", "closes": "13:00"}, {"opens": "12:00", "closes": "18:00"}],
            },
            "overlaps",
        ),
        ({"time_zone": "Europe/Warsaw", "funday": []}, "funday"),
        ({"mon": []}, "time_zone"),
        ({"time_zone": "Europe/Warsaw", "thu": [{"opens": f"0{i}:00", "closes": f"0{i}:30"} for i in range(5)]}, "thu"),
    ],
    ids=["zone", "backwards", "format", "hour", "overlap", "day", "no-zone", "too-many"],
)
async def test_bad_office_hours_are_a_400_that_names_the_problem(hub: RunningHub, office_hours: Any, says: str) -> None:
    tenant = await hub.tenant()
    async with await owner_client(hub, tenant.id) as portal:
        answer = await portal.patch("/api/settings", json={"office_hours": office_hours})
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_input" and says in error["message"], error
        assert (await portal.get("/api/settings")).json()["office_hours"] is None, "nothing was saved"


async def test_office_hours_are_set_read_and_cleared_through_the_api_per_tenant(hub: RunningHub) -> None:
    tenant, other = await hub.tenant(), await hub.tenant()
    async with await owner_client(hub, tenant.id) as portal, await owner_client(hub, other.id, "Bea") as theirs:
        changed = await portal.patch("/api/settings", json={"office_hours": WEEKDAYS_9_TO_17})
        assert changed.status_code == 200, changed.text
        saved = (await portal.get("/api/settings")).json()
        assert saved["office_hours"]["time_zone"] == "Europe/Warsaw"
        assert saved["office_hours"]["mon"] == [{"opens": "09:00", "closes": "17:00"}]
        assert saved["office_hours"]["sat"] == []
        assert saved["ai_while_waiting"] is True, "the other settings stay"
        assert (await theirs.get("/api/settings")).json()["office_hours"] is None, "tenant B's settings are its own"
        assert (await portal.patch("/api/settings", json={"office_hours": None})).json()["office_hours"] is None


async def set_hours(hub: RunningHub, tenant_id: str, spec: dict[str, Any] | None) -> None:
    async with await owner_client(hub, tenant_id, "Owen") as portal:
        assert (await portal.patch("/api/settings", json={"office_hours": spec})).status_code == 200


def availability(frame: dict[str, Any]) -> bool:
    return frame["type"] == "availability"


@pytest.fixture
async def evening_hub(settings: Settings) -> Any:
    """A hub whose clock says Monday evening in Warsaw, and which can send email (kept in memory)."""
    async with serve_hub(settings, mailer=MemoryMailer(), clock=lambda: MONDAY_EVENING) as running:
        yield running


@pytest.mark.parametrize(
    ("language", "zone", "when"),
    [
        ("en", "America/New_York", "Tuesday 3:00 AM"),
        ("pl", "Europe/Warsaw", "wtorek 09:00"),
        ("pl-PL", "Asia/Tokyo", "wtorek 17:00"),
    ],
)
async def test_a_visitor_outside_office_hours_is_told_the_next_opening_in_their_language_and_offered_email(
    evening_hub: RunningHub, language: str, zone: str, when: str
) -> None:
    hub = evening_hub
    tenant = await hub.tenant()
    await set_hours(hub, tenant.id, WEEKDAYS_9_TO_17)
    async with visitor(hub.ws, tenant.id) as guest:
        await guest.send({"type": "handoff"})
        await guest.until(lambda f: f["type"] == "message" and f.get("event") == "handoff_requested")
        await guest.send({"type": "availability", "language": language, "time_zone": zone})
        told = (await guest.until(availability))[-1]
    assert told["open"] is False and told["agents_online"] is False
    assert told["next_open"] == "2026-12-08T08:00:00Z" and told["next_open_text"] == when
    assert told["email_offered"] is True and "email" not in told and "expected_wait_s" not in told
    async with hub.node.engine.connect() as connection:
        row = (await connection.execute(select(handoffs).where(handoffs.c.tenant_id == tenant.id))).one()
    assert row.outside_hours is True, "kept for analytics"


async def test_within_hours_with_nobody_in_mission_control_the_visitor_may_leave_an_email(settings: Settings) -> None:
    async with serve_hub(settings, mailer=MemoryMailer(), clock=lambda: TUESDAY_MORNING) as hub:
        tenant = await hub.tenant()
        await set_hours(hub, tenant.id, WEEKDAYS_9_TO_17)
        async with visitor(hub.ws, tenant.id) as guest:
            await guest.send({"type": "handoff"})
            await guest.send({"type": "availability", "language": "en"})
            told = (await guest.until(availability))[-1]
            assert told == {"type": "availability", "agents_online": False, "email_offered": True, "open": True}
            await guest.send({"type": "email", "address": "Ada@Example.COM"})
            saved = (await guest.until(lambda f: f["type"] == "email_saved"))[-1]
            assert saved["address"] == "Ada@example.com", "the domain is normalised"
            await guest.send({"type": "availability"})
            assert (await guest.until(availability))[-1]["email"] == "Ada@example.com"
        async with hub.node.engine.connect() as connection:
            row = (await connection.execute(select(handoffs).where(handoffs.c.tenant_id == tenant.id))).one()
        assert row.outside_hours is False


async def add_answered_conversations(hub: RunningHub, tenant_id: str, waits_s: list[int]) -> None:
    """Conversations an agent answered after ``waits_s`` seconds (as analytics measures them)."""
    start = datetime.now(UTC) - timedelta(days=2)
    rows = []
    for number, wait in enumerate(waits_s):
        session_id = f"s_answered_{number:04d}"
        await hub.node.writer.ensure_session(tenant_id, session_id)
        rows += [
            {
                "id": f"v{tenant_id[:8]}{number}",
                "tenant_id": tenant_id,
                "session_id": session_id,
                "seq": 1,
                "role": "visitor",
                "text": "Hello?",
                "created_at": start,
            },
            {
                "id": f"a{tenant_id[:8]}{number}",
                "tenant_id": tenant_id,
                "session_id": session_id,
                "seq": 2,
                "role": "agent",
                "text": "Hi!",
                "created_at": start + timedelta(seconds=wait),
            },
        ]
    async with hub.node.engine.begin() as connection:
        await connection.execute(messages.insert(), rows)


async def test_with_an_agent_there_the_visitor_hears_the_tenants_own_median_wait_once_it_is_measured(
    settings: Settings,
) -> None:
    async with serve_hub(settings, mailer=MemoryMailer(), clock=lambda: TUESDAY_MORNING) as hub:
        measured, unmeasured = await hub.tenant(), await hub.tenant()
        await add_answered_conversations(hub, measured.id, [60, 120, 180, 240, 900])
        await add_answered_conversations(hub, unmeasured.id, [30, 30, 30, 30])  # four: below the threshold of five
        for tenant in (measured, unmeasured):
            await set_hours(hub, tenant.id, WEEKDAYS_9_TO_17)
        token_a = (await login(hub.http, await agent_account(hub.node.engine, measured.id, "Ann")))["token"]
        token_b = (await login(hub.http, await agent_account(hub.node.engine, unmeasured.id, "Ben")))["token"]
        async with agent_socket(hub.ws, token=token_a), agent_socket(hub.ws, token=token_b):
            for tenant, expected in ((measured, 180), (unmeasured, None)):
                async with visitor(hub.ws, tenant.id) as guest:
                    await guest.send({"type": "handoff"})
                    await guest.send({"type": "availability", "language": "en"})
                    told = (await guest.until(availability))[-1]
                assert told["agents_online"] is True and told["open"] is True and told["email_offered"] is False
                assert told.get("expected_wait_s") == expected
        # Tenant isolation: with only tenant A's agent gone, tenant B's visitor hears nobody is there.
        async with agent_socket(hub.ws, token=token_a), visitor(hub.ws, unmeasured.id) as guest:
            await guest.send({"type": "availability"})
            assert (await guest.until(availability))[-1]["agents_online"] is False


async def test_bad_email_addresses_are_refused_on_the_socket_and_over_http(evening_hub: RunningHub) -> None:
    hub = evening_hub
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as guest:
        for bad in ("not-an-address", "a@b", "two@@example.com", "ada@example.com\r\nBcc: x@example.com"):
            await guest.send({"type": "email", "address": bad})
            error = (await guest.until(lambda f: f["type"] == "error"))[-1]
            assert error["code"] == "invalid_email", error
        await guest.send({"type": "email", "address": "x" * 250 + "@example.com"})
        error = (await guest.until(lambda f: f["type"] == "error"))[-1]
        assert error["code"] == "invalid_frame" and "254" in error["message"], "the frame's documented limit"
    async with httpx.AsyncClient(base_url=hub.http, timeout=15) as client:
        answer = await client.post(
            "/api/chat", json={"session_id": "s1", "message": "Hi", "email": "nope", "business_id": tenant.business_id}
        )
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_email", answer.text
        good = await client.post(
            "/api/chat",
            json={"session_id": "s1", "message": "Hi", "email": "ada@example.com", "business_id": tenant.business_id},
        )
        assert good.status_code == 200, good.text


async def test_a_hub_without_smtp_does_not_offer_email(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as guest:
        await guest.send({"type": "handoff"})
        await guest.send({"type": "availability"})
        told = (await guest.until(availability))[-1]
        assert told["email_offered"] is False and told["agents_online"] is False
        await guest.send({"type": "email", "address": "ada@example.com"})
        assert (await guest.until(lambda f: f["type"] == "error"))[-1]["code"] == "email_unavailable"


async def test_an_http_turn_of_a_waiting_visitor_says_who_is_there_in_their_language_and_zone(
    evening_hub: RunningHub,
) -> None:
    hub = evening_hub
    tenant = await hub.tenant()
    await set_hours(hub, tenant.id, WEEKDAYS_9_TO_17)
    turn = {"session_id": "s1", "business_id": tenant.business_id, "language": "pl", "time_zone": "Europe/Warsaw"}
    async with httpx.AsyncClient(base_url=hub.http, timeout=15) as client:
        first = (await client.post("/api/chat", json={**turn, "message": "Hello"})).json()
        assert first["waiting"] is False and first["availability"] is None
        asked = (await client.post("/api/chat", json={**turn, "message": "A person, please", "handoff": True})).json()
        streamed = await client.post(
            "/api/chat",
            json={**turn, "message": "Still there?", "email": "ada@example.com"},
            headers={"Accept": "text/event-stream"},
        )
    assert asked["waiting"] is True
    assert asked["availability"]["next_open_text"] == "wtorek 09:00" and asked["availability"]["email_offered"] is True
    done = streamed.text.split("event: done\ndata: ", 1)[1].strip()
    assert msgspec.json.decode(done)["availability"]["email"] == "ada@example.com"
