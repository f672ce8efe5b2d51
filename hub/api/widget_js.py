"""``GET /widget/{tenant_uuid}/widget.js``: the embeddable widget with the tenant's settings baked in.

The bundle is rendered once per tenant configuration (see hub.bundle), so serving it is a dictionary
lookup and, for a returning browser, a ``304``: browsers revalidate it on every use (``no-cache`` with an
``ETag``), and every node drops its caches of a tenant the moment it changes, so no node serves an old
persona name or appearance.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from hub.appearance import appearance_of
from hub.node import Services
from hub.protocol import COMMENT_CHARS, WidgetChanged
from hub.store.models import Tenant

NOT_FOUND_JS = b'console.warn("Bob widget: this hub has no such tenant (or it is disabled); no chat is shown.");\n'
# Every use of the bundle asks the hub whether it changed (a 304 without a body when it did not): a persona renamed
# or a colour changed in the portal shows from the next page view on, never minutes later.
CACHE_CONTROL = "public, no-cache"


def widget_config(
    request: Request, services: Services, tenant: Tenant, widget_key: str | None, widget: WidgetChanged | None
) -> dict[str, Any]:
    base = services.settings.public_url or str(request.base_url).rstrip("/")
    ws_base = "wss://" + base[len("https://") :] if base.startswith("https://") else "ws://" + base.split("://", 1)[1]
    return {
        "hubUrl": base,
        "wsUrl": f"{ws_base}/ws/visitor/{tenant.id}",
        "chatUrl": f"{base}/api/widget/chat",
        "ratingUrl": f"{base}/api/widget/rating",
        "sessionRatingUrl": f"{base}/api/widget/session-rating",
        "commentChars": COMMENT_CHARS,
        "tenantId": tenant.id,
        "businessName": tenant.name,
        "widgetKey": widget_key,
        # What a ``widget`` frame carries (the socket's ready and the broadcast of a change correct it later):
        # the active persona's name, and the appearance. Without a greeting of the tenant's own, the widget
        # greets from its catalog, in the visitor's language.
        "assistant": (widget.assistant if widget else None) or "Bob",
        "appearance": msgspec.to_builtins(widget.appearance if widget else appearance_of(tenant)),
    }


async def widget_js(request: Request) -> Response:
    services: Services = request.state.services
    tenant = await services.tenants.get(request.path_params["tenant_uuid"])
    # X-Content-Type-Options: nosniff comes with every answer (hub.security_headers).
    js_headers = {"Content-Type": "text/javascript; charset=utf-8"}
    if tenant is None or tenant.disabled:
        return Response(NOT_FOUND_JS, status_code=404, headers={**js_headers, "Cache-Control": "no-store"})
    keys = await services.tenants.widget_keys(tenant.id)
    live = [key for key in keys if key.mode == "live"] or list(keys)
    widget = await services.widgets.state(tenant.id)
    bundle = services.widget_bundles.get(
        tenant.id, widget_config(request, services, tenant, live[0].key if live else None, widget)
    )
    headers = {**js_headers, "ETag": bundle.etag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept-Encoding"}
    if bundle.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(bundle.gzipped, headers={**headers, "Content-Encoding": "gzip"})
    return Response(bundle.plain, headers=headers)
