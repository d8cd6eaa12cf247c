"""One signed POST to one endpoint, to an address checked just before connecting.

The host name is resolved and every address checked at each attempt, and the request is
then sent to that very address (``Host`` header and TLS SNI keep the name), so a DNS
answer that changes between the check and the connection (rebinding) cannot point the
request at a private address.

The wire is aiohttp: a POST costs about a tenth of the CPU that httpx's pool spends on it
(docs/webhooks.md, "Throughput"), and delivery capacity is CPU-bound.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import httpx

from services.webhooks import domain
from services.webhooks.domain import Endpoint
from shared.providers.http import parse_retry_after
from shared.runtime.addresses import Resolver, literal_address, system_resolver

USER_AGENT = "valetkey-webhooks/0.1"
# A receiver's answer is read up to this size (so the connection can be reused), never further.
MAX_RESPONSE_BYTES = 64 * 1024
# A pool unused this long is closed (no request lasts that long), checked at most this often.
IDLE_POOL_SECONDS = 600.0
PRUNE_EVERY_SECONDS = 60.0
# Answers whose Retry-After says when to come back (RFC 6585 §4, RFC 9110 §10.2.3).
RETRY_AFTER_STATUSES = (429, 503)
# The sender bounds each attempt as a whole (``Sender.timeout``); aiohttp's own timers would only cost.
NO_TIMEOUTS = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=None)


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: an HTTP status, or the reason there was none.

    ``retry_after``: seconds a 429 or 503 asked us to wait (its ``Retry-After``), if it did.
    """

    status: int | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and domain.is_success(self.status)

    def describe(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else str(self.error)


@dataclass(frozen=True)
class Request:
    """A POST ready for the wire.

    ``server_hostname`` is the name TLS sends (SNI) and checks the certificate against when
    ``url`` holds the pinned address instead of the name.
    """

    url: str
    headers: dict[str, str]
    body: bytes
    server_hostname: str | None = None


class WireError(Exception):
    """The request got no HTTP answer; ``kind`` is what a dead letter records."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Wire(Protocol):
    """Sends a request on the pool named ``pool`` and returns what it came to (status, and
    ``Retry-After`` on a 429 or 503); never follows redirects.

    Raises:
        WireError: No HTTP answer (refused, reset, TLS failure, malformed response).
    """

    async def post(self, pool: str, request: Request) -> Outcome: ...

    async def close(self) -> None: ...


# aiohttp's exception names, as the stable words dead letters carry (the first match wins).
_ERROR_KINDS: tuple[tuple[type[Exception], str], ...] = (
    (aiohttp.ClientConnectorCertificateError, "CertificateError"),
    (aiohttp.ClientSSLError, "TLSError"),
    (aiohttp.ClientConnectorError, "ConnectError"),
    (aiohttp.ServerDisconnectedError, "ServerDisconnected"),
    (aiohttp.ClientResponseError, "ProtocolError"),
    (aiohttp.ClientPayloadError, "ProtocolError"),
    (ssl.SSLError, "TLSError"),
)


def error_kind(exc: Exception) -> str:
    return next((kind for cls, kind in _ERROR_KINDS if isinstance(exc, cls)), type(exc).__name__)


class AiohttpWire:
    """One small keep-alive pool per endpoint: a slow receiver only fills its own connections.

    TLS trust is httpx's (certifi's roots, environment ignored), as before the switch to aiohttp;
    the environment's proxy settings are ignored too: the address checked is the one called.
    """

    def __init__(self, *, per_endpoint: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_endpoint = per_endpoint
        self._tls = httpx.create_ssl_context(trust_env=False)
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._used: dict[str, float] = {}
        self._clock = clock
        self._next_prune = clock() + PRUNE_EVERY_SECONDS

    @property
    def pools(self) -> int:
        """How many endpoint pools are open."""
        return len(self._sessions)

    async def _prune(self, now: float) -> None:
        """Close the pools unused for ``IDLE_POOL_SECONDS``: their endpoint was deleted or moved
        (a pool is named by id and URL), or has had no events for a while."""
        self._next_prune = now + PRUNE_EVERY_SECONDS
        for pool, used in list(self._used.items()):
            if now - used > IDLE_POOL_SECONDS:
                del self._used[pool]
                await self._sessions.pop(pool).close()

    async def _session(self, pool: str) -> aiohttp.ClientSession:
        now = self._clock()
        if now >= self._next_prune:
            await self._prune(now)
        self._used[pool] = now
        session = self._sessions.get(pool)
        if session is None:
            connector = aiohttp.TCPConnector(limit=self._per_endpoint, ssl=self._tls)
            session = aiohttp.ClientSession(
                connector=connector, trust_env=False, auto_decompress=False, timeout=NO_TIMEOUTS
            )
            self._sessions[pool] = session
        return session

    async def post(self, pool: str, request: Request) -> Outcome:
        try:
            async with (await self._session(pool)).post(
                request.url,
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
                server_hostname=request.server_hostname,
            ) as response:
                await _drain(response)
                return Outcome(status=response.status, retry_after=_retry_after(response))
        except (aiohttp.ClientError, OSError) as exc:  # OSError covers ssl.SSLError
            raise WireError(error_kind(exc)) from exc

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
        self._used.clear()


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    """A receiver's ``Retry-After`` (seconds or an HTTP date), heeded on 429 and 503 only."""
    if response.status not in RETRY_AFTER_STATUSES:
        return None
    return parse_retry_after(response.headers.get("Retry-After"))


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read a small answer to its end so the connection is reused; a large one closes it on release."""
    received = 0
    while received <= MAX_RESPONSE_BYTES and (chunk := await response.content.readany()):
        received += len(chunk)


class Sender:
    """Signs and sends deliveries.

    Args:
        timeout: Hard limit in seconds for a whole attempt (connect, send, read).
        allow_private: Accept loopback, private and link-local addresses.
        per_endpoint: Connections kept per endpoint.
        resolver: Host name to addresses (injectable for tests).
        wire: Sends the request (tests inject one that records).
    """

    def __init__(
        self,
        *,
        timeout: float,
        allow_private: bool,
        per_endpoint: int = 16,
        resolver: Resolver = system_resolver,
        wire: Wire | None = None,
    ) -> None:
        self._timeout = timeout
        self._allow_private = allow_private
        self._resolve = resolver
        self._wire = wire or AiohttpWire(per_endpoint=per_endpoint)

    async def close(self) -> None:
        await self._wire.close()

    async def send(self, endpoint: Endpoint, msg_id: str, body: bytes) -> Outcome:
        """Deliver ``body`` once; never raises for network or target problems."""
        try:
            target = parsed_target(endpoint.url)
            address = await self._address(target)
        except domain.InvalidTarget as exc:
            return Outcome(error=f"refused target: {exc.message}")
        except OSError as exc:
            return Outcome(error=f"cannot resolve {endpoint.url}: {exc.strerror or type(exc).__name__}")
        headers = domain.signed_headers(endpoint.keys, msg_id, int(time.time()), body)
        headers.update({"content-type": "application/json", "user-agent": USER_AGENT})
        return await self._post(f"{endpoint.id} {endpoint.url}", pinned(target, address, headers, body))

    async def _address(self, target: domain.Target) -> str | None:
        """The address to pin, or None to connect by name (private targets allowed)."""
        if self._allow_private:
            return None
        literal = literal_address(target.host)
        addresses = [str(literal)] if literal else await self._resolve(target.host, target.port)
        return domain.check_addresses(target.host, addresses, allow_private=False)

    async def _post(self, pool: str, request: Request) -> Outcome:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._wire.post(pool, request)
        except TimeoutError:
            return Outcome(error=f"timed out after {self._timeout:g}s")
        except WireError as exc:
            return Outcome(error=exc.kind)


@functools.lru_cache(maxsize=1024)
def parsed_target(url: str) -> domain.Target:
    """``domain.parse_target``, remembered: every delivery to an endpoint parses the same URL."""
    return domain.parse_target(url)


def pinned(target: domain.Target, address: str | None, headers: dict[str, str], body: bytes) -> Request:
    """The request to ``address`` in place of the name, which stays in ``Host`` and TLS."""
    if address is None or address == target.host:
        return Request(target.url_for(), headers, body)
    host = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    server_hostname = target.host if target.scheme == "https" else None
    return Request(target.url_for(address), {**headers, "host": host}, body, server_hostname)


async def vet_target(url: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
    """Check a URL an admin submits: its shape, and (unless private targets are allowed) its addresses.

    Raises:
        InvalidTarget: Refused scheme or address, or a host that does not resolve.
    """
    target = domain.parse_target(url)
    if allow_private:
        return
    literal = literal_address(target.host)
    try:
        addresses = [str(literal)] if literal else await resolver(target.host, target.port)
    except OSError as exc:
        raise domain.InvalidTarget(f"{target.host} does not resolve") from exc
    domain.check_addresses(target.host, addresses, allow_private=False)
