"""``/api/push``: an agent's own Web Push subscriptions (``chat.manage``), and the hub's VAPID public key.

Mission Control (static/push.js) subscribes the browser with the public key and sends the browser's
``PushSubscription.toJSON()`` here; the alerts (``hub.push.alerts``) go to every subscription of the
tenant's agents. An agent only ever adds or removes its own.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

import msgspec
from cryptography.hazmat.primitives.asymmetric import ec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from hub.api.bodies import StructResponse, read_body
from hub.api.models import Timestamp
from hub.auth.permissions import CHAT_MANAGE, Principal
from hub.auth.request import require_principal
from hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.node import Services
from hub.pages import request_language
from hub.push.vapid import b64url_decode
from hub.store import push as store
from hub.webhooks.guard import is_public

PUSH_BODY_BYTES = 4096
PER_AGENT = 10  # browsers (devices) one agent may have subscribed; a new one beyond replaces the oldest
BASE64URL = r"^[A-Za-z0-9_-]+={0,2}$"

Endpoint = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=1024,
        description="The push service's URL for this browser: https, with a host and without credentials "
        "(`HUB_PUSH_ALLOW_PRIVATE=1` also allows http and private addresses, for tests).",
    ),
]


class PushOffer(msgspec.Struct, kw_only=True):
    public_key: Annotated[
        str | None,
        Meta(
            description="The hub's VAPID public key (base64url), the `applicationServerKey` to subscribe with; "
            "null when this hub offers no push (no `HUB_VAPID_PRIVATE_KEY`)."
        ),
    ]


class PushKeys(msgspec.Struct):
    p256dh: Annotated[
        str, Meta(min_length=1, max_length=100, pattern=BASE64URL, description="The browser's P-256 key (base64url).")
    ]
    auth: Annotated[
        str, Meta(min_length=1, max_length=50, pattern=BASE64URL, description="The 16-byte auth secret (base64url).")
    ]


class PushSubscriptionRequest(msgspec.Struct, kw_only=True):
    """The browser's ``PushSubscription.toJSON()``, as it is."""

    endpoint: Endpoint
    keys: PushKeys
    expirationTime: Annotated[float | None, Meta(description="Ignored: an expired one is deleted on its 410.")] = None


class PushUnsubscribeRequest(msgspec.Struct):
    endpoint: Endpoint


class PushSubscription(msgspec.Struct, kw_only=True):
    id: Annotated[str, Meta(description="SHA-256 of the endpoint (hex): the same browser always has the same id.")]
    endpoint: str
    language: Annotated[str, Meta(description="The alerts' language: Mission Control's when it subscribed.")]
    created_at: Timestamp


class PushNotOffered(Conflict):
    code = "push_not_offered"


async def _agent(request: Request, services: Services) -> Principal:
    principal = await require_principal(request, services.engine, request.method)
    if not principal.can(CHAT_MANAGE):
        raise Forbidden("push alerts are for agents (chat.manage)")
    return principal


def _endpoint(url: str, allow_private: bool) -> str:
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes or not parts.hostname or parts.username or parts.password or parts.fragment:
        raise InvalidInput("'endpoint' must be an https URL with a host, without credentials or fragment")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None and not allow_private and not is_public(str(literal)):
        raise InvalidInput("'endpoint' points to a private or internal address")
    return url


def _keys(keys: PushKeys) -> None:
    """The browser's keys must be what RFC 8291 encrypts to: a P-256 point and a 16-byte secret."""
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(keys.p256dh))
    except ValueError:
        raise InvalidInput("'keys.p256dh' must be an uncompressed P-256 public key in base64url") from None
    try:
        secret = b64url_decode(keys.auth)
    except ValueError:  # binascii.Error: a length base64 cannot have
        secret = b""
    if len(secret) != 16:
        raise InvalidInput("'keys.auth' must be a 16-byte secret in base64url")


async def offer(request: Request) -> Response:
    services: Services = request.state.services
    await _agent(request, services)
    return StructResponse(PushOffer(public_key=services.push.public_key))


async def subscribe(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _agent(request, services)
    body = await read_body(request, PushSubscriptionRequest, PUSH_BODY_BYTES)
    endpoint = _endpoint(body.endpoint, services.settings.push_allow_private)
    _keys(body.keys)
    if not services.push.offered:
        raise PushNotOffered("this hub offers no push alerts (HUB_VAPID_PRIVATE_KEY is not set)")
    saved = await store.save_subscription(
        services.engine,
        principal.tenant_id,
        principal.user_id,
        endpoint=endpoint,
        p256dh=body.keys.p256dh,
        auth=body.keys.auth,
        language=request_language(request),
        per_user=PER_AGENT,
    )
    answer = PushSubscription(
        id=saved.id, endpoint=saved.endpoint, language=saved.language, created_at=saved.created_at.isoformat()
    )
    return StructResponse(answer, status_code=201)


async def unsubscribe(request: Request) -> Response:
    services: Services = request.state.services
    principal = await _agent(request, services)
    body = await read_body(request, PushUnsubscribeRequest, PUSH_BODY_BYTES)
    if not await store.delete_subscription(services.engine, principal.tenant_id, principal.user_id, body.endpoint):
        raise NotFound("you have no push subscription with that endpoint")
    return Response(status_code=204)
