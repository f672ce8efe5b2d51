"""A Web Push service for the tests: a real HTTP server on loopback standing in for FCM, Mozilla's or
Apple's push service, and browsers' key material to subscribe with.

``Device`` is what a browser makes when it subscribes: a P-256 key pair and a 16-byte auth secret
(``PushSubscription.toJSON()`` gives their public halves). The receiver checks each push as a push
service and the browser would: the VAPID JWT (ES256, signed by the hub's key, audience this origin),
``TTL`` and ``Content-Encoding: aes128gcm``, then decrypts the body with the device's private key
(RFC 8291, with ``http_ece``) and keeps the JSON it held.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.services import free_port


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Device:
    """One browser's subscription: its endpoint at the receiver and its own keys."""

    name: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))
    status: int = 201  # what the push service answers for it (410: the browser unsubscribed)

    def subscription(self) -> dict[str, Any]:
        """As ``JSON.stringify(pushSubscription)`` sends it."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)},
        }


@dataclass
class Push:
    device: str
    payload: dict[str, Any]
    headers: dict[str, str]  # lower-case names


@dataclass
class PushService:
    port: int
    vapid_public_key: str = ""  # the hub's, as GET /api/push/key tells it: every push must be signed by it
    devices: dict[str, Device] = field(default_factory=dict)
    received: list[Push] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why pushes were refused (none in a passing test)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def device(self, name: str) -> Device:
        made = Device(name, f"{self.origin}/push/{name}-{os.urandom(6).hex()}")
        self.devices[made.endpoint.rsplit("/", 1)[1]] = made
        return made

    def to(self, name: str) -> list[dict[str, Any]]:
        return [push.payload for push in self.received if push.device == name]

    async def handle(self, request: web.Request) -> web.Response:
        device = self.devices.get(request.match_info["token"])
        if device is None:
            return web.Response(status=404)
        body = await request.read()
        try:
            self._check_vapid(request.headers.get("Authorization", ""))
            assert request.headers.get("Content-Encoding") == "aes128gcm", request.headers.get("Content-Encoding")
            assert request.headers.get("TTL", "").isdigit(), "a TTL header is required (RFC 8030)"
            payload = json.loads(
                http_ece.decrypt(body, private_key=device.private_key, auth_secret=device.auth, version="aes128gcm")
            )
        except Exception as exc:
            self.refused.append(f"{type(exc).__name__}: {exc}")
            return web.Response(status=400)
        if device.status < 300:
            self.received.append(Push(device.name, payload, {k.lower(): v for k, v in request.headers.items()}))
            self._changed.set()
        else:
            self.refused.append(f"answered {device.status}")
            self._changed.set()
        return web.Response(status=device.status)

    def _check_vapid(self, authorization: str) -> None:
        """``vapid t=<JWT>, k=<public key>`` (RFC 8292), the JWT signed ES256 by that key, for this origin."""
        scheme, _, rest = authorization.partition(" ")
        assert scheme == "vapid", authorization
        parts = dict(item.strip().split("=", 1) for item in rest.split(","))
        assert parts["k"] == self.vapid_public_key, "signed with the hub's key"
        header, claims, signature = parts["t"].split(".")
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
        raw = unb64url(signature)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        try:
            key.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise AssertionError("the VAPID signature does not verify") from None
        decoded = json.loads(unb64url(claims))
        assert decoded["aud"] == self.origin and decoded["exp"] > time.time(), decoded
        assert decoded["sub"].startswith(("mailto:", "https://")), decoded

    async def wait_for(self, predicate: Callable[[PushService], bool], timeout: float = 10) -> None:
        async def until() -> None:
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)


@contextlib.asynccontextmanager
async def push_service() -> AsyncIterator[PushService]:
    state = PushService(free_port())
    app = web.Application()
    app.router.add_post("/push/{token}", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", state.port)
    await site.start()
    try:
        yield state
    finally:
        await runner.cleanup()
