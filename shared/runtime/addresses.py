"""One outbound address policy for every URL the engine calls: providers, workers, webhooks.

A URL an operator or an API caller names could point the engine at itself, at the pod
network or at a cloud metadata service (``169.254.169.254``) and read the answer back.
Unless private targets are allowed, every address a host name resolves to must be public:
loopback, private, link-local, shared (CGNAT), reserved, multicast and unspecified
addresses are refused, in every spelling (``::ffff:127.0.0.1``, NAT64 ``64:ff9b::/96``
and 6to4 ``2002::/16`` forms embed an IPv4 address that is judged instead). The address
checked is the one connected to (*pinned*), so a name cannot resolve to a public address
for the check and a private one for the connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver returns for ``host``."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def literal_address(host: str) -> IpAddress | None:
    """``host`` as an IP address when it is one (brackets of an IPv6 literal allowed)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return None


def is_public(address: IpAddress) -> bool:
    """False for loopback, private, link-local, shared, reserved, multicast and unspecified addresses."""
    if isinstance(address, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(address)) is not None:
        address = embedded  # ::ffff:127.0.0.1 is loopback, whatever is_global says of the v6 form
    return address.is_global and not address.is_multicast


def first_refused(addresses: Iterable[str]) -> str | None:
    """The first address that is not public, or None when all are (zone ids ignored)."""
    for text in addresses:
        if not is_public(ipaddress.ip_address(text.split("%", 1)[0])):
            return text
    return None


def refused_literal(url: str) -> str | None:
    """The host of ``url`` when it is an IP address the policy refuses, else None.

    What can be judged without a DNS lookup, when a URL is registered; a host name is
    judged when it is called, by its resolved and pinned address.
    """
    address = literal_address(urlsplit(url).hostname or "")
    return str(address) if address is not None and not is_public(address) else None
