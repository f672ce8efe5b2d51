"""The widget's appearance: owners and admins read and change it over the API (field by field, each value
checked, the colour's contrast too); the next bundle and every open widget of the tenant get it, on every
node, within seconds (a ``widget`` frame), as they get a persona activated or renamed; other tenants see
and change nothing of it, and their widgets hear nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import httpx
import pytest

from hub.appearance import GREETING_CHARS, LAUNCHER_TEXT_CHARS, contrast_with_white
from hub.settings import Settings
from hub.store.tenants import get_tenant
from tests.agents import agent_account, login
from tests.conftest import RunningHub, Visitor, serve_hub, two_hubs, visitor
from tests.proxy import proxy_to

DEFAULTS = {"color": "#2459d8", "greeting": "", "position": "right", "language": "auto", "launcher_text": ""}
GREEN = {"color": "#1F7A4D", "greeting": "Hi! Ask me about repairs.", "position": "left", "launcher_text": "Chat"}


async def client_for(hub: RunningHub, tenant_id: str, role: str = "owner") -> httpx.AsyncClient:
    token = str((await login(hub.http, await agent_account(hub.node.engine, tenant_id, "Olga", role)))["token"])
    return httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {token}"})


async def widget_frame(client: Visitor, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
    """The next ``widget`` frame (with these fields: a node tells its widgets the state again whenever its broker
    subscriber (re)connects, so an earlier frame may come first)."""

    def wanted(frame: dict[str, Any]) -> bool:
        return frame["type"] == "widget" and all(frame.get(name) == value for name, value in fields.items())

    return (await client.until(wanted, timeout=timeout))[-1]


async def hears_nothing_more(client: Visitor) -> None:
    """Nothing is queued for this socket: the answer to a ping is the next frame it gets."""
    await client.send({"type": "ping"})
    assert (await client.recv())["type"] == "pong"


async def test_an_owner_changes_the_appearance_field_by_field_and_the_next_bundle_and_ready_carry_it(
    hub: RunningHub,
) -> None:
    tenant = await hub.tenant()
    async with await client_for(hub, tenant.id) as owner:
        assert (await owner.get("/api/widget-appearance")).json() == DEFAULTS
        changed = await owner.patch("/api/widget-appearance", json=GREEN)
        assert changed.status_code == 200, changed.text
        saved = {**DEFAULTS, **GREEN, "color": "#1f7a4d"}
        assert changed.json() == saved, "the colour is kept in lower case"
        again = await owner.patch("/api/widget-appearance", json={"language": "pl", "greeting": "  Cześć!  "})
        assert again.json() == {**saved, "language": "pl", "greeting": "Cześć!"}, "the others stay; blanks trimmed"
        assert (await owner.get("/api/widget-appearance")).json() == again.json()
        bundle = (await owner.get(f"/widget/{tenant.id}/widget.js")).text
    assert '"color":"#1f7a4d"' in bundle and '"position":"left"' in bundle and '"launcher_text":"Chat"' in bundle
    async with visitor(hub.ws, tenant.id) as client:
        assert client.ready["appearance"] == again.json() and client.ready["assistant"] == "Bob"
        await client.say("Cześć!")
        assert (await client.ai_reply())[-1]["text"] == "Cześć!", "the built-in AI greets with the tenant's greeting"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"color": "blue"}, "color"),
        ({"color": "#2459d"}, "color"),
        ({"color": "#ffd600"}, "color"),  # yellow: white text on it has a contrast of 1.4:1
        ({"color": "#8a8f9c"}, "color"),  # grey: 3.3:1
        ({"greeting": "x" * (GREETING_CHARS + 1)}, "greeting"),
        ({"greeting": "Hi\tthere"}, "greeting"),
        ({"launcher_text": "x" * (LAUNCHER_TEXT_CHARS + 1)}, "launcher_text"),
        ({"launcher_text": "Chat\nwith us"}, "launcher_text"),
        ({"position": "top"}, "position"),
        ({"language": "de"}, "language"),
        ({"color": 5}, "color"),
    ],
)
async def test_a_bad_appearance_is_a_400_naming_the_field_and_changes_nothing(
    hub: RunningHub, body: dict[str, Any], field: str
) -> None:
    tenant = await hub.tenant()
    async with await client_for(hub, tenant.id) as owner:
        response = await owner.patch("/api/widget-appearance", json={"greeting": "Hello", **body})
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_input" and f"'{field}'" in error["message"], error
        assert (await owner.get("/api/widget-appearance")).json() == DEFAULTS


def test_the_contrast_checked_is_wcags_ratio_of_white_text_on_the_colour() -> None:
    assert round(contrast_with_white("#2459d8"), 1) == 6.0 and contrast_with_white("#000000") == 21
    assert contrast_with_white("#767676") >= 4.5 > contrast_with_white("#777777"), "the usual AA boundary grey"


async def test_a_greeting_may_hold_line_breaks_and_the_body_must_be_json(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with await client_for(hub, tenant.id) as owner:
        ok = await owner.patch("/api/widget-appearance", json={"greeting": "Hi!\nAsk me anything."})
        assert ok.status_code == 200 and ok.json()["greeting"] == "Hi!\nAsk me anything."
        text = await owner.patch("/api/widget-appearance", content=b"color=#000000")
        assert text.status_code == 415 and text.json()["error"]["code"] == "unsupported_media_type"
        huge = await owner.patch("/api/widget-appearance", json={"greeting": "x" * 5000})
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_large"


async def test_only_owners_and_admins_of_the_tenant_may_read_or_change_it(hub: RunningHub) -> None:
    shop_a, shop_b = await hub.tenant(), await hub.tenant()
    async with (
        await client_for(hub, shop_a.id, "agent") as agent,
        await client_for(hub, shop_b.id, "owner") as owner_b,
        await client_for(hub, shop_a.id, "admin") as admin_a,
        httpx.AsyncClient(base_url=hub.http) as stranger,
    ):
        assert (await agent.get("/api/widget-appearance")).status_code == 403
        assert (await agent.patch("/api/widget-appearance", json={"color": "#000000"})).status_code == 403
        assert (await stranger.get("/api/widget-appearance")).status_code == 401
        other = {"business_id": shop_a.business_id}
        assert (await owner_b.get("/api/widget-appearance", params=other)).status_code == 403
        refused = await owner_b.patch("/api/widget-appearance", params=other, json={"color": "#000000"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert (await admin_a.patch("/api/widget-appearance", json={"color": "#000000"})).status_code == 200
        assert (await owner_b.get("/api/widget-appearance")).json() == DEFAULTS, "B's own is untouched"
    stored = await get_tenant(hub.node.engine, shop_b.id)
    assert stored is not None and "appearance" not in stored.config


async def test_a_change_reaches_every_open_widget_of_the_tenant_and_no_other_tenants(hub: RunningHub) -> None:
    shop, other = await hub.tenant(), await hub.tenant()
    async with (
        visitor(hub.ws, shop.id) as first,
        visitor(hub.ws, shop.id) as second,
        visitor(hub.ws, other.id) as stranger,
        await client_for(hub, shop.id) as owner,
    ):
        saved = (await owner.patch("/api/widget-appearance", json=GREEN)).json()
        for client in (first, second):
            frame = await widget_frame(client)
            assert frame == {"type": "widget", "assistant": "Bob", "appearance": saved}
        await hears_nothing_more(stranger)
        assert stranger.ready["appearance"] == DEFAULTS


async def test_a_persona_activated_or_renamed_reaches_open_widgets_at_once(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    async with visitor(hub.ws, tenant.id) as client, await client_for(hub, tenant.id) as owner:
        ada = await owner.post("/api/personas", json={"name": "Ada", "systemPrompt": "You are Ada.", "active": True})
        assert ada.status_code == 201
        assert (await widget_frame(client))["assistant"] == "Ada"
        await owner.patch(f"/api/personas/{ada.json()['id']}", json={"name": "Ada Lovelace"})
        assert (await widget_frame(client))["assistant"] == "Ada Lovelace"
        await owner.patch(f"/api/personas/{ada.json()['id']}", json={"tone": "brief"})
        await hears_nothing_more(client)  # nothing a widget shows changed


async def test_a_tenant_that_saved_no_appearance_keeps_what_older_hubs_kept_in_its_config(hub: RunningHub) -> None:
    tenant = await hub.tenant(widget={"color": "#0b6e4f"}, persona={"greeting": "Welcome!"}, language="pl")
    async with await client_for(hub, tenant.id) as owner:
        got = (await owner.get("/api/widget-appearance")).json()
        assert got == {**DEFAULTS, "color": "#0b6e4f", "greeting": "Welcome!", "language": "pl"}
        changed = (await owner.patch("/api/widget-appearance", json={"greeting": ""})).json()
        assert changed == {**got, "greeting": ""}, "an empty greeting saved is the widget's own, not the old one"


async def test_a_rename_and_an_appearance_change_on_node_a_reach_a_visitor_on_node_b_within_seconds(
    shared_settings: Settings,
) -> None:
    async with two_hubs(shared_settings) as (node_a, node_b):
        shop, other = await node_a.tenant(), await node_a.tenant()
        async with (
            visitor(node_b.ws, shop.id) as on_b,
            visitor(node_b.ws, other.id) as stranger_on_b,
            await client_for(node_a, shop.id) as owner_on_a,
            httpx.AsyncClient(base_url=node_b.http) as page_on_b,
        ):
            url = f"/widget/{shop.id}/widget.js"
            before = await page_on_b.get(url)  # node B has the tenant and its persona cached now
            assert '"assistant":"Bob"' in before.text
            bob = (await owner_on_a.get("/api/personas")).json()["personas"][0]

            started = time.monotonic()
            await owner_on_a.patch(f"/api/personas/{bob['id']}", json={"name": "Ada"})
            await widget_frame(on_b, timeout=3, assistant="Ada")
            assert time.monotonic() - started < 3
            # Node B dropped its caches when A said so (not when their TTLs ran out): its next bundle is new.
            fresh = await page_on_b.get(url, headers={"If-None-Match": before.headers["etag"]})
            assert fresh.status_code == 200 and '"assistant":"Ada"' in fresh.text

            started = time.monotonic()
            saved = (await owner_on_a.patch("/api/widget-appearance", json=GREEN)).json()
            frame = await widget_frame(on_b, timeout=3, appearance=saved)
            assert frame == {"type": "widget", "assistant": "Ada", "appearance": saved}
            assert time.monotonic() - started < 3
            assert '"color":"#1f7a4d"' in (await page_on_b.get(url)).text
            await asyncio.sleep(0.3)  # anything misrouted to the other tenant would have arrived by now
            await hears_nothing_more(stranger_on_b)
        async with visitor(node_b.ws, shop.id) as later:
            assert later.ready["assistant"] == "Ada" and later.ready["appearance"] == saved


@pytest.mark.timeout(60)
async def test_a_node_cut_off_from_redis_during_a_change_tells_its_widgets_once_it_is_back(
    settings: Settings, postgres_url: str, redis_url: str, redis_prefix: str
) -> None:
    host, port = redis_url.split("//", 1)[1].split("/", 1)[0].split(":")
    shared = dataclasses.replace(settings, database_url=postgres_url, redis_url=redis_url, redis_prefix=redis_prefix)
    async with proxy_to(host, int(port)) as partition:
        behind = dataclasses.replace(shared, node_id="node-b", redis_url=partition.url("redis://", "/0"))
        async with (
            serve_hub(dataclasses.replace(shared, node_id="node-a")) as node_a,
            serve_hub(behind) as node_b,
        ):
            shop = await node_a.tenant()
            async with visitor(node_b.ws, shop.id) as on_b, await client_for(node_a, shop.id) as owner_on_a:
                partition.refuse()
                partition.cut()  # node B hears nothing of what follows
                saved = (await owner_on_a.patch("/api/widget-appearance", json=GREEN)).json()
                await asyncio.sleep(0.5)
                partition.heal()
                # Node B resyncs once its subscriber is back.
                frame = await widget_frame(on_b, timeout=20, appearance=saved)
                assert frame == {"type": "widget", "assistant": "Bob", "appearance": saved}
