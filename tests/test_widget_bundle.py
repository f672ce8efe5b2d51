"""Serving ``/widget/{tenant_uuid}/widget.js``: one file per tenant, cache-friendly, compressed."""

from __future__ import annotations

import gzip

import httpx

from tests.accounts import create_widget_key
from tests.conftest import RunningHub, visitor


async def test_bundle_carries_the_tenants_config_and_publishable_key(hub: RunningHub) -> None:
    tenant = await hub.tenant(persona={"name": "Ada", "greeting": "Hi </script><b>there</b>"})
    key = await create_widget_key(hub.node.engine, tenant.id, ["https://shop.example.com"])
    async with httpx.AsyncClient(base_url=hub.http) as client:
        response = await client.get(f"/widget/{tenant.id}/widget.js", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    body = response.text
    assert tenant.id in body and key.key in body and '"assistant":"Ada"' in body
    assert f"/ws/visitor/{tenant.id}" in body
    assert "</script>" not in body, "persona text cannot close a script element"


async def test_bundle_is_revalidated_on_every_use_with_etag_and_gzip(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    url = f"/widget/{tenant.id}/widget.js"
    async with httpx.AsyncClient(base_url=hub.http) as client:
        first = await client.get(url, headers={"Accept-Encoding": "gzip"})
        # no-cache: a browser (or a CDN) keeps it but asks each time; an unchanged bundle is a bodiless 304.
        assert first.headers["content-encoding"] == "gzip" and first.headers["cache-control"] == "public, no-cache"
        assert first.headers["vary"] == "Accept-Encoding"
        etag = first.headers["etag"]
        again = await client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        raw = await client.get(url, headers={"Accept-Encoding": "identity"})
    assert gzip.decompress(await _raw_gzip(hub, url)) == raw.content


async def _raw_gzip(hub: RunningHub, url: str) -> bytes:
    async with (
        httpx.AsyncClient(base_url=hub.http) as client,
        client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response,
    ):
        return b"".join([chunk async for chunk in response.aiter_raw()])


async def test_new_widget_key_changes_the_bundle_and_its_etag(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    url = f"/widget/{tenant.id}/widget.js"
    async with httpx.AsyncClient(base_url=hub.http) as client:
        before = (await client.get(url)).headers["etag"]
        await create_widget_key(hub.node.engine, tenant.id, ["https://shop.example.com"])
        hub.node.tenants.forget(tenant.id)
        after = await client.get(url, headers={"If-None-Match": before})
    assert after.status_code == 200 and after.headers["etag"] != before


async def test_unknown_tenant_gets_a_javascript_404_that_warns_once(hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=hub.http) as client:
        for tenant_id in ("00000000-0000-4000-8000-000000000000", "nope"):
            response = await client.get(f"/widget/{tenant_id}/widget.js")
            assert response.status_code == 404
            assert response.headers["content-type"].startswith("text/javascript")
            assert response.text.count("console.warn(") == 1


async def test_widget_key_origins_may_open_the_visitor_socket(hub: RunningHub) -> None:
    tenant = await hub.tenant()
    await create_widget_key(hub.node.engine, tenant.id, ["https://*.example.com"])
    async with visitor(hub.ws, tenant.id, origin="https://shop.example.com") as client:
        assert client.ready["type"] == "ready"
