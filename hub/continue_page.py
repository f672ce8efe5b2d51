"""``GET /chat/continue/{token}``: the page behind the link of a reply email.

The token (``hub.chat.followup.continue_token``) names a tenant and a session, is signed with the hub's
secret and expires. The page loads that tenant's widget from the hub itself (the hub's own origin is
always allowed on the visitor socket) and names the session and its resume token on the script tag, so
the widget opens on the whole transcript and the visitor goes on writing in the same conversation.

Chosen over a link back to the page the visitor was on: that page may have changed or gone, may not
embed the widget any more, and would receive the resume token in its URL (and its analytics with it).
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from hub.chat.followup import check_continue_token
from hub.chat.identity import resume_token
from hub.node import Services

HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


async def continue_page(request: Request) -> Response:
    services: Services = request.state.services
    pages: Jinja2Templates = request.state.templates
    secret = services.settings.secret_key
    found = check_continue_token(secret, request.path_params["token"], time.time())
    tenant = await services.tenants.get(found[0]) if found is not None else None
    if found is None or tenant is None or tenant.disabled:
        return pages.TemplateResponse(
            request, "continue.html", {"tenant": None, "principal": None}, status_code=404, headers=HEADERS
        )
    tenant_id, session_id = found
    context = {
        "principal": None,
        "tenant": tenant,
        "script_url": f"/widget/{tenant_id}/widget.js",
        "session_id": session_id,
        "resume_token": resume_token(secret, tenant_id, session_id),
    }
    return pages.TemplateResponse(request, "continue.html", context, headers=HEADERS)
