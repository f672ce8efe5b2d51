"""``GET /widget/{tenant_uuid}/widget.js``: the embeddable widget with the tenant's settings baked in.

The bundle is rendered once per tenant configuration (see hub.bundle), so serving it is a dictionary
lookup and, for a returning browser, a ``304``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from hub.i18n import supported
from hub.node import Services
from hub.protocol import COMMENT_CHARS
from hub.store.models import Tenant

MAX_AGE_S = 300
NOT_FOUND_JS = b'console.warn("Bob widget: this hub has no such tenant (or it is disabled); no chat is shown.");\n'


def widget_config(
    request: Request, services: Services, tenant: Tenant, widget_key: str | None, assistant: str | None
) -> dict[str, Any]:
    base = services.settings.public_url or str(request.base_url).rstrip("/")
    ws_base = "wss://" + base[len("https://") :] if base.startswith("https://") else "ws://" + base.split("://", 1)[1]
    persona = tenant.config.get("persona") or {}
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
        # Without a greeting of the tenant's own, the widget greets from its catalog, in the visitor's language.
        # The active persona's name (also sent in every ``ready``, so a bundle cached by the browser is corrected).
        "persona": {
            "name": assistant or str(persona.get("name") or "Bob"),
            "greeting": str(persona.get("greeting") or ""),
        },
        "colors": {"primary": str((tenant.config.get("widget") or {}).get("color") or "#2459d8")},
        "language": supported(str(tenant.config.get("language") or "")) or "auto",
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
    assistant = await services.assistant_name(tenant.id)
    bundle = services.widget_bundles.get(
        tenant.id, widget_config(request, services, tenant, live[0].key if live else None, assistant)
    )
    headers = {
        **js_headers,
        "ETag": bundle.etag,
        "Cache-Control": f"public, max-age={MAX_AGE_S}",
        "Vary": "Accept-Encoding",
    }
    if bundle.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(bundle.gzipped, headers={**headers, "Content-Encoding": "gzip"})
    return Response(bundle.plain, headers=headers)
