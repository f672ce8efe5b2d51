"""``/docs``: the product page, live. In English or Polish, with this hub's own host in every sample and
the pricing table rendered from the published pricebook (so it changes the moment a version is published)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from hub.node import Services
from hub.pages import public_base
from hub.store.webhooks import EVENTS


async def docs(request: Request) -> Response:
    services: Services = request.state.services
    base = public_base(request, services)
    context = {
        "base": base,
        "pricebook": services.pricebook.current,
        "widget_tag": f'<script src="{base}/widget/YOUR_TENANT_UUID/widget.js" async></script>',
        "webhook_events": EVENTS,  # the one list of event names: none is left out here
    }
    pages: Jinja2Templates = request.state.templates
    return pages.TemplateResponse(request, "docs.html", context, headers={"Cache-Control": "no-cache"})
