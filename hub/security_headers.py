"""The security headers of every HTTP answer, defined here and added by one ASGI middleware around the app.

- Every answer: ``X-Content-Type-Options: nosniff`` (a body is only ever used as the type it declares),
  ``Referrer-Policy: same-origin`` (the hub's URLs are never sent to other sites, and a form's
  same-origin POST keeps its ``Origin``, which ``no-referrer`` turns into ``null``), and
  ``Strict-Transport-Security`` when ``HUB_PUBLIC_URL`` is https.
- HTML pages (the Customer Portal, Mission Control): scripts, styles, images, the web app manifest,
  frames and connections from the hub only, no inline script or style, and no framing (clickjacking: they
  act on a logged-in session), except Widget Setup's live preview, which only the hub's own pages may
  frame (Widget Setup does).
- ``/docs``: styles only, no script at all; it may be framed by any site, since it is the public product
  page, reads no session and has nothing to click that changes anything.
- Every other answer (the JSON API, redirects, plain-text refusals, 404s): nothing may load and nothing
  may frame it, in case a browser is ever led to render one as a document.
- ``/static/`` and ``/widget/`` files get no CSP: a script or stylesheet runs under the policy of the page
  that loads it (for widget.js, the host site's), so a policy on them would mean nothing.

A header the handler already set is left as it is. WebSockets pass through untouched, and the visitor
socket never reaches this middleware (see hub.app).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.origins import normalise_origin

# One year; without includeSubDomains: the hub often lives on one name of a business's domain
# (chat.example.com) and must not force HTTPS on the other names, which it does not serve.
HSTS_MAX_AGE_S = 365 * 86400
REFERRER_POLICY = "same-origin"

# Paths whose answers are loaded into another page (ours or a host site's) rather than shown as one.
SUBRESOURCE_PREFIXES = ("/static/", "/widget/")
DOCS_PATH = "/docs"
PREVIEW_PATH = "/portal/widget/preview"  # Widget Setup frames it

Header = tuple[bytes, bytes]


def content_security_policy(directives: Mapping[str, Iterable[str]]) -> str:
    return "; ".join(" ".join((name, *sources)) for name, sources in directives.items())


def app_page_policy(public_url: str | None = None, *, framed_by_self: bool = False) -> str:
    """The portal's and Mission Control's policy; ``framed_by_self``: the hub's own pages may frame this one.

    ``'self'`` covers the hub's origin as the browser reached it, and in CSP 3 its ``ws:``/``wss:`` form
    too. ``HUB_PUBLIC_URL`` is named as well: Widget Setup's live preview loads widget.js and opens the
    visitor socket there, and Safari before 16 only lets ``'self'`` cover http(s), not sockets.
    """
    hub = [public_origin(public_url)] if public_url else []
    sockets = [socket_origin(origin) for origin in hub]
    return content_security_policy(
        {
            "default-src": ["'none'"],
            "script-src": ["'self'", *hub],
            "style-src": ["'self'"],
            "img-src": ["'self'"],
            "manifest-src": ["'self'"],  # Mission Control's web app manifest (installable on a phone)
            "connect-src": ["'self'", *hub, *sockets],
            "frame-src": ["'self'"],  # Widget Setup's live preview
            "base-uri": ["'none'"],
            "form-action": ["'self'"],
            "frame-ancestors": ["'self'" if framed_by_self else "'none'"],
        }
    )


DOCS_POLICY = content_security_policy(
    {
        "default-src": ["'none'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["*"],
    }
)
NOTHING_POLICY = content_security_policy({"default-src": ["'none'"], "frame-ancestors": ["'none'"]})


def public_origin(public_url: str) -> str:
    parts = urlsplit(public_url)
    return normalise_origin(f"{parts.scheme}://{parts.netloc}")


def socket_origin(origin: str) -> str:
    """``https://host`` -> ``wss://host``, ``http://host`` -> ``ws://host``."""
    scheme, rest = origin.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}"


@dataclass(frozen=True)
class SecurityHeaders:
    """The headers of each kind of answer, worked out once per app from its settings."""

    app_page: tuple[Header, ...]
    preview_page: tuple[Header, ...]
    docs_page: tuple[Header, ...]
    subresource: tuple[Header, ...]
    other: tuple[Header, ...]

    @classmethod
    def for_hub(cls, public_url: str | None) -> SecurityHeaders:
        every: tuple[Header, ...] = (
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", REFERRER_POLICY.encode()),
        )
        if public_url and public_url.startswith("https://"):
            # Sent on plain-HTTP answers too: behind a proxy that ends TLS the node sees http and the browser
            # https (a browser ignores the header on an answer it did not get over HTTPS).
            every += ((b"strict-transport-security", f"max-age={HSTS_MAX_AGE_S}".encode()),)
        unframed = (b"x-frame-options", b"DENY")  # frame-ancestors 'none' for browsers older than CSP 2
        return cls(
            app_page=(*every, (b"content-security-policy", app_page_policy(public_url).encode()), unframed),
            preview_page=(
                *every,
                (b"content-security-policy", app_page_policy(public_url, framed_by_self=True).encode()),
                (b"x-frame-options", b"SAMEORIGIN"),
            ),
            docs_page=(*every, (b"content-security-policy", DOCS_POLICY.encode())),
            subresource=every,
            other=(*every, (b"content-security-policy", NOTHING_POLICY.encode()), unframed),
        )

    def for_answer(self, path: str, content_type: bytes) -> tuple[Header, ...]:
        if content_type.startswith(b"text/html"):
            if path == DOCS_PATH:
                return self.docs_page
            return self.preview_page if path == PREVIEW_PATH else self.app_page
        if path.startswith(SUBRESOURCE_PREFIXES):
            return self.subresource
        return self.other


class SecurityHeadersMiddleware:
    """Pure ASGI, so streamed answers stream as before: only the ``http.response.start`` message is touched."""

    def __init__(self, app: ASGIApp, headers: SecurityHeaders) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw: list[Header] = list(message.get("headers", ()))
                present = {name.lower() for name, _ in raw}
                content_type = next((value for name, value in raw if name.lower() == b"content-type"), b"")
                raw.extend(h for h in self.headers.for_answer(path, content_type) if h[0] not in present)
                message["headers"] = raw
            await send(message)

        await self.app(scope, receive, send_with_headers)
