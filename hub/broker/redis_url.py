"""The Sentinel form of ``HUB_REDIS_URL``, parsed (no redis import: settings check the URL at start).

    redis+sentinel://[[user]:password@]host[:26379][,host[:26379]…]/service[/db][?options]
    rediss+sentinel://…   the same over TLS, to the Sentinels and to the master

The hosts are Sentinels, ``service`` the master's name in their ``sentinel monitor`` line. The user
and password are the master's (and its replicas'); Sentinels with a password of their own take
``sentinel_password`` (and ``sentinel_username``) in the query. With ``rediss+sentinel`` the query may
also hold redis-py's TLS options, for every connection: ``ssl_ca_certs``, ``ssl_certfile``,
``ssl_keyfile``, ``ssl_cert_reqs`` (``none``, ``optional``, ``required``) and ``ssl_check_hostname``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
SENTINEL_PORT = 26379
TLS_OPTIONS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs", "ssl_check_hostname")
SENTINEL_AUTH_OPTIONS = ("sentinel_username", "sentinel_password")
_CERT_REQS = ("none", "optional", "required")
_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


@dataclass(frozen=True)
class SentinelURL:
    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    tls: bool = False
    tls_options: dict[str, str | bool] = field(default_factory=dict)


def is_sentinel_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SENTINEL_SCHEMES


def parse_sentinel_url(url: str) -> SentinelURL:
    """Raises ValueError saying what is wrong (never showing the password)."""
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in SENTINEL_SCHEMES:
        raise ValueError(f"must start with {' or '.join(f'{s}://' for s in SENTINEL_SCHEMES)}")
    location, _, query = rest.partition("?")
    netloc, _, path = location.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    sentinels = tuple(_sentinel_address(host) for host in hosts.split(","))
    segments = path.split("/") if path else []
    if not segments or not segments[0]:
        raise ValueError("must name the master after the hosts: redis+sentinel://host:26379/<service name>")
    if len(segments) > 2 or (len(segments) == 2 and not segments[1].isdigit()):
        raise ValueError("may only have /<service name> or /<service name>/<db number> after the hosts")
    sentinel_auth, tls_options = _options(query, tls=scheme == "rediss+sentinel")
    return SentinelURL(
        sentinels=sentinels,
        service_name=unquote(segments[0]),
        db=int(segments[1]) if len(segments) == 2 else 0,
        username=username,
        password=password,
        sentinel_username=sentinel_auth.get("sentinel_username"),
        sentinel_password=sentinel_auth.get("sentinel_password"),
        tls=scheme == "rediss+sentinel",
        tls_options=tls_options,
    )


def _sentinel_address(host: str) -> tuple[str, int]:
    if not host:
        raise ValueError("must list Sentinels as host[:port], separated by commas, with no empty entry")
    try:
        parts = urlsplit(f"//{host}")
        port = parts.port
    except ValueError:
        raise ValueError(f"has an invalid Sentinel address {host!r} (host[:port], port 1 to 65535)") from None
    if not parts.hostname or parts.username is not None or port == 0:
        raise ValueError(f"has an invalid Sentinel address {host!r} (host[:port])")
    return parts.hostname, port or SENTINEL_PORT


def _options(query: str, *, tls: bool) -> tuple[dict[str, str], dict[str, str | bool]]:
    """The Sentinels' credentials, and the TLS options."""
    sentinel_auth: dict[str, str] = {}
    options: dict[str, str | bool] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in SENTINEL_AUTH_OPTIONS:
            sentinel_auth[name] = value
        elif name in TLS_OPTIONS:
            if not tls:
                raise ValueError(f"has the TLS option {name}, which needs rediss+sentinel://")
            if name == "ssl_check_hostname":
                if value.lower() not in _BOOLEANS:
                    raise ValueError(f"has ssl_check_hostname={value!r}; use true or false")
                options[name] = _BOOLEANS[value.lower()]
            elif name == "ssl_cert_reqs" and value not in _CERT_REQS:
                raise ValueError(f"has ssl_cert_reqs={value!r}; use one of {', '.join(_CERT_REQS)}")
            else:
                options[name] = value
        else:
            known = ", ".join(SENTINEL_AUTH_OPTIONS + TLS_OPTIONS)
            raise ValueError(f"has an unknown option {name!r} (known: {known})")
    return sentinel_auth, options
