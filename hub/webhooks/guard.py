"""The SSRF guard: webhook receivers on private, loopback or otherwise internal addresses are refused.

It is a resolver for aiohttp, so the check applies to the very addresses the connection uses, at
delivery time (a DNS name that later points inside is caught; no check-then-connect gap).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver


class PrivateAddressRefused(OSError):
    """The receiver resolves to an address webhooks may not reach."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class PublicOnlyResolver(AbstractResolver):
    def __init__(self) -> None:
        self._resolver = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        resolved = await self._resolver.resolve(host, port, family)
        refused = [entry["host"] for entry in resolved if not is_public(entry["host"])]
        if refused:
            raise PrivateAddressRefused(
                f"{host} resolves to {refused[0]}, a private or internal address "
                "(set HUB_WEBHOOKS_ALLOW_PRIVATE=1 to allow it)"
            )
        return list(resolved)

    async def close(self) -> None:
        await self._resolver.close()
