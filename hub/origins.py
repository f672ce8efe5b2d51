"""Origins as browsers send them: ``scheme://host[:port]``, compared exactly."""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit, urlunsplit

from hub.errors import InvalidInput

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(raw: str) -> str:
    """Lower-case scheme and host, drop a default port and any path; reject what is not an origin."""
    try:
        parts = urlsplit(raw.strip())
    except ValueError:  # e.g. an unclosed IPv6 bracket, or a host that NFKC folds into a separator
        raise InvalidInput(f"origin must look like https://shop.example.com, got {raw!r}") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise InvalidInput(f"origin must look like https://shop.example.com, got {raw!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise InvalidInput(f"origin must be scheme://host[:port] only, got {raw!r}")
    try:
        port = parts.port
    except ValueError:
        raise InvalidInput(f"origin has a bad port: {raw!r}") from None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def origin_allowed(origin: str | None, allowed: tuple[str, ...], own_origins: tuple[str, ...]) -> bool:
    """Browsers always send Origin on WebSockets; non-browser clients may omit it and are let in.

    The Origin check protects visitors' browsers from other sites, it is not client authentication.
    """
    if origin is None:
        return True
    try:
        origin = normalise_origin(origin)
    except InvalidInput:
        return False
    return origin in own_origins or origin_matches(origin, allowed)


def normalise_origin_pattern(raw: str) -> str:
    """An allowed-origin entry: an exact origin, or one of two documented wildcard forms.

    ``https://*.example.com`` allows every subdomain (not ``example.com`` itself); ``http://localhost:*``
    allows any port of one host, for development.
    """
    raw = raw.strip()
    if raw.endswith(":*"):
        base = normalise_origin(raw[:-2])
        if base.count(":") != 1:
            raise InvalidInput(f"a port wildcard goes on a host without a port, got {raw!r}")
        return base + ":*"
    scheme, sep, rest = raw.partition("://")
    if sep and rest.startswith("*."):
        base = normalise_origin(f"{scheme}://{rest[2:]}")
        return base.replace("://", "://*.", 1)
    return normalise_origin(raw)


def origin_matches(origin: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """``origin`` must already be normalised."""
    for pattern in patterns:
        if pattern == origin:
            return True
        if pattern.endswith(":*"):
            base = pattern[:-2]
            if origin == base or (origin.startswith(base + ":") and origin[len(base) + 1 :].isdigit()):
                return True
        elif "://*." in pattern:
            scheme, _, suffix = pattern.partition("://*.")
            # Compare host and port exactly after the first label, so evil-example.com never matches.
            if origin.startswith(scheme + "://") and origin.endswith("." + suffix):
                host_part = origin[len(scheme) + 3 : -len(suffix) - 1]
                if host_part and "/" not in host_part and ":" not in host_part:
                    return True
    return False


def own_origins(public_url: str | None, scheme: str, host: str | None) -> tuple[str, ...]:
    """The hub's own origins for one request: ``HUB_PUBLIC_URL``'s, and the scheme and ``Host`` it was reached on."""
    origins = []
    if public_url:
        parts = urlsplit(public_url)
        with contextlib.suppress(InvalidInput):
            origins.append(normalise_origin(f"{parts.scheme}://{parts.netloc}"))
    if host:
        secure = scheme in ("wss", "https")
        with contextlib.suppress(InvalidInput):
            origins.append(normalise_origin(f"{'https' if secure else 'http'}://{host}"))
    return tuple(origins)


PAGE_URL_CHARS = 2048  # the longest page address a visitor's context keeps (browsers handle far longer)


def page_url(raw: str) -> str:
    """The address of a page a visitor is on: an http(s) URL, its credentials dropped; ``ValueError`` says why not.

    It is shown to staff as a link, so nothing but http and https passes (no ``javascript:``, ``data:``).
    """
    if len(raw) > PAGE_URL_CHARS:
        raise ValueError(f"'url' is longer than {PAGE_URL_CHARS} characters")
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in raw):
        raise ValueError("'url' must not contain spaces or control characters")
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018  (a bad port raises here)
    except ValueError:
        raise ValueError("'url' is not a URL") from None
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError("'url' must be an http or https URL")
    netloc = parts.netloc.rpartition("@")[2]  # user:password@ stays with the visitor
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))


def page_origin(url: str) -> str:
    """The origin of a URL ``page_url`` accepted."""
    parts = urlsplit(url)
    return normalise_origin(f"{parts.scheme}://{parts.netloc}")
