"""The hub's VAPID key (RFC 8292): read from ``HUB_VAPID_PRIVATE_KEY``, or made by ``bob-hub vapid generate``.

The key is a P-256 private key, given as PEM (PKCS#8 or SEC1), as base64url of its DER, or as base64url
of its raw 32-byte private number (the form most Web Push tools print). Browsers subscribe with the
public half (``applicationServerKey``, base64url of the uncompressed point); the push services check
each request's signed claim against it.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02


class BadVapidKey(ValueError):
    """The text is no P-256 private key in any accepted form."""


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    cleaned = "".join(text.split())
    return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))


def load_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    text = text.strip().replace("\\n", "\n")  # a PEM pasted into one line of an env file
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            raw = b64url_decode(text)
            if len(raw) == 32:
                key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
            else:
                key = serialization.load_der_private_key(raw, password=None)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadVapidKey(f"not a P-256 private key in PEM or base64url ({type(exc).__name__})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise BadVapidKey("the key must be an elliptic-curve key on P-256 (prime256v1)")
    return key


def public_key(key: ec.EllipticCurvePrivateKey) -> str:
    """What browsers pass as ``applicationServerKey``: the uncompressed public point, base64url."""
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url(point)


def signer(key: ec.EllipticCurvePrivateKey) -> Vapid02:
    """pywebpush's signer of the ``Authorization: vapid t=…, k=…`` header."""
    return Vapid02(key)


def generate() -> dict[str, str]:
    """A new key pair, in the forms ``bob-hub vapid generate`` prints."""
    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.private_numbers().private_value.to_bytes(32, "big")
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {"private_key": b64url(raw), "private_key_pem": pem, "public_key": public_key(key)}
