"""The live product page at /docs: this hub's host in the samples, English and Polish, and the pricing
table from the published pricebook."""

from __future__ import annotations

import copy

import httpx

from hub.store.webhooks import EVENTS
from tests.conftest import RunningHub
from tests.test_pricebook import V1_PLANS, platform_admin_token


async def test_docs_page_shows_this_hub_and_the_published_pricing_in_english_and_polish(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        english = await client.get("/docs")
        polish = await client.get("/docs", headers={"Accept-Language": "pl-PL,pl;q=0.9"})
        polish_by_link = await client.get("/docs?lang=pl")
    assert english.status_code == 200 and english.headers["content-type"].startswith("text/html")
    page = english.text
    assert f"{hub.http}/widget/YOUR_TENANT_UUID/widget.js" in page
    assert f"{hub.http}/api/widget/chat" in page and "Three paths" in page
    assert "pricebook-seed V1" in page
    assert "credits.exhausted" in page and 'Webhook("whsec_...").verify' in page
    for number in ("$79", "$249", "$899", "15,000", "75,000", "250,000", "up to 3", "up to 10", "unlimited"):
        assert number in page, number
    assert "Cennik" in polish.text and "Trzy ścieżki" in polish.text and "bez limitu" in polish.text
    assert "Webhooki" in polish.text
    for text in (page, polish.text):  # every event the hub sends is named, from the one list of them
        assert ", ".join(EVENTS) in text and "conversation.assigned" in text
    assert polish_by_link.text == polish.text
    assert "<script>" not in page, "no inline script: the samples are escaped text"


async def test_docs_page_pricing_changes_when_a_new_pricebook_is_published(hub: RunningHub) -> None:
    plans = copy.deepcopy(V1_PLANS)
    plans[1]["price_usd_month"] = 279
    admin = await platform_admin_token(hub)
    async with httpx.AsyncClient(base_url=hub.http, headers={"Authorization": f"Bearer {admin}"}) as client:
        version = (await client.post("/api/admin/pricebook/versions", json={"label": "V2", "plans": plans})).json()
        await client.post(f"/api/admin/pricebook/versions/{version['version']}/publish")
        page = (await client.get("/docs")).text
    assert "$279" in page and "$249" not in page and ">V2<" in page
