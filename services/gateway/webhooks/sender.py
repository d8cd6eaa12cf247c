"""One signed POST to one endpoint, to an address checked just before connecting.

The host name is resolved and every address checked at each attempt, and the request is
then sent to that very address (``Host`` header and TLS SNI keep the name), so a DNS
answer that changes between the check and the connection (rebinding) cannot point the
request at a private address.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from services.gateway.webhooks import domain
from services.gateway.webhooks.store import Endpoint

Resolver = Callable[[str, int], Awaitable[list[str]]]
USER_AGENT = "valetkey-webhooks/0.1"


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver returns for ``host``."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: an HTTP status, or the reason there was none."""

    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and domain.is_success(self.status)

    def describe(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else str(self.error)


class Sender:
    """Signs and sends deliveries over one shared connection pool.

    Args:
        timeout: Hard limit in seconds for a whole attempt (connect, send, read).
        allow_private: Accept loopback, private and link-local addresses.
        resolver: Host name to addresses (injectable for tests).
        transport: An httpx transport (tests use ``httpx.MockTransport``).
    """

    def __init__(
        self,
        *,
        timeout: float,
        allow_private: bool,
        per_endpoint: int = 16,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._timeout = timeout
        self._allow_private = allow_private
        self._per_endpoint = per_endpoint
        self._resolve = resolver
        self._transport = transport
        self._clients: dict[tuple[str, str], httpx.AsyncClient] = {}

    def _client(self, endpoint: Endpoint) -> httpx.AsyncClient:
        """One small pool per endpoint: isolation, and httpcore's pool stays cheap when it is small."""
        key = (endpoint.id, endpoint.url)
        client = self._clients.get(key)
        if client is None:
            # No redirects, and no proxy from the environment: the address we check is the one we call.
            client = httpx.AsyncClient(
                follow_redirects=False,
                trust_env=False,
                timeout=self._timeout,
                transport=self._transport,
                limits=httpx.Limits(
                    max_connections=self._per_endpoint, max_keepalive_connections=self._per_endpoint
                ),
            )
            self._clients[key] = client
        return client

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    async def send(self, endpoint: Endpoint, msg_id: str, body: bytes) -> Outcome:
        """Deliver ``body`` once; never raises for network or target problems."""
        try:
            target = domain.parse_target(endpoint.url)
            address = await self._address(target)
        except domain.InvalidTarget as exc:
            return Outcome(error=f"refused target: {exc.message}")
        except OSError as exc:
            return Outcome(error=f"cannot resolve {endpoint.url}: {exc.strerror or type(exc).__name__}")
        headers = domain.signed_headers(endpoint.keys, msg_id, int(time.time()), body)
        headers.update({"content-type": "application/json", "user-agent": USER_AGENT})
        return await self._post(self._client(endpoint), target, address, headers, body)

    async def _address(self, target: domain.Target) -> str | None:
        """The address to pin, or None to let httpx connect by name (private targets allowed)."""
        if self._allow_private:
            return None
        literal = domain.literal_address(target.host)
        addresses = [str(literal)] if literal else await self._resolve(target.host, target.port)
        return domain.check_addresses(target.host, addresses, allow_private=False)

    async def _post(
        self,
        client: httpx.AsyncClient,
        target: domain.Target,
        address: str | None,
        headers: dict[str, str],
        body: bytes,
    ) -> Outcome:
        extensions = {}
        if address is not None and address != target.host:
            headers["host"] = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
            extensions["sni_hostname"] = target.host
        try:
            async with asyncio.timeout(self._timeout):
                response = await client.post(
                    target.url_for(address), content=body, headers=headers, extensions=extensions
                )
        except TimeoutError:
            return Outcome(error=f"timed out after {self._timeout:g}s")
        except httpx.HTTPError as exc:
            return Outcome(error=type(exc).__name__)
        return Outcome(status=response.status_code)


async def vet_target(url: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
    """Check a URL an admin submits: its shape, and (unless private targets are allowed) its addresses.

    Raises:
        InvalidTarget: Refused scheme or address, or a host that does not resolve.
    """
    target = domain.parse_target(url)
    if allow_private:
        return
    literal = domain.literal_address(target.host)
    try:
        addresses = [str(literal)] if literal else await resolver(target.host, target.port)
    except OSError as exc:
        raise domain.InvalidTarget(f"{target.host} does not resolve") from exc
    domain.check_addresses(target.host, addresses, allow_private=False)
