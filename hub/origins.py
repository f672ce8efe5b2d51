"""Origins as browsers send them: ``scheme://host[:port]``, compared exactly."""

from __future__ import annotations

from urllib.parse import urlsplit

from hub.errors import InvalidInput

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(raw: str) -> str:
    """Lower-case scheme and host, drop a default port and any path; reject what is not an origin."""
    parts = urlsplit(raw.strip())
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
    return origin in own_origins or origin in allowed
