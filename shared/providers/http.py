"""Send an :class:`HttpRequestSpec` with aiohttp; transport failures become ProviderUnavailable."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import aiohttp
from aiohttp import ClientSession, TraceRequestHeadersSentParams
from cachetools import TTLCache

from shared.errors import ProviderError, ProviderUnavailable, TargetRefused
from shared.providers.oauth import HttpRequestSpec
from shared.runtime.addresses import Resolver, first_refused, literal_address, system_resolver

#: No token, refresh or user-info answer comes near this; a larger one is refused unread.
MAX_ANSWER_BYTES = 1024 * 1024
#: A host's resolved addresses are reused this long (a callback's exchange and user info, the
#: refreshes of a sweep): each call still checks them and pins the one it connects to.
RESOLVED_FOR_S = 10.0


@dataclass(frozen=True)
class ProviderResponse:
    """What the parsers need from a provider's answer."""

    status_code: int
    content_type: str
    body: bytes
    retry_after: float | None = None
    #: Seconds from the request's headers handed to the connection to the answer's last byte
    #: read: the network and the provider, not our own building or parsing.
    upstream_seconds: float | None = None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return Retry-After in seconds (delta-seconds or HTTP-date), or None.

    Args:
        value: The header value.
        now: Reference time for HTTP-dates (defaults to the current time).
    """
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def pinned(parts: SplitResult, address: str) -> tuple[str, str, str | None]:
    """The URL with ``address`` in place of its host, the ``Host`` header, and the TLS name.

    The name stays in ``Host`` and (for https to a name) in TLS, so virtual hosting and the
    certificate check work as if the name had been connected to.
    """
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = address.split("%", 1)[0]
    netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    tls_name = host if parts.scheme == "https" and literal_address(host) is None else None
    return url, host_header, tls_name


async def _headers_sent(
    _session: ClientSession, context: Any, _params: TraceRequestHeadersSentParams
) -> None:
    """Where a request's upstream time starts (its ``trace_request_ctx`` is a one-key dict)."""
    context.trace_request_ctx["sent"] = time.perf_counter()


def _upstream_clock() -> aiohttp.TraceConfig:
    clock = aiohttp.TraceConfig()
    clock.on_request_headers_sent.append(_headers_sent)
    clock.freeze()
    return clock


async def _capped(response: aiohttp.ClientResponse, where: str) -> bytes:
    """The body, refused past ``MAX_ANSWER_BYTES`` (no provider answer is that large)."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise ProviderError(f"{where} answered more than {MAX_ANSWER_BYTES} bytes", url=where)
    return bytes(body)


class ProviderHttp:
    """Provider calls (token, refresh, user info) over one pooled aiohttp session.

    aiohttp, not httpx: a provider call cost ~1 ms of client CPU with httpx against a few
    hundred µs with aiohttp (measured on this stack), and the refresher makes one per
    refresh. The session is opened on first use, inside the running loop; the environment's
    proxies are ignored and redirects are never followed.

    Unless ``allow_private``, every request goes through the outbound address policy: the
    host's addresses must all be public and the connection is pinned to the one checked
    (the name stays in ``Host`` and in TLS); a name's addresses are looked up at most once in
    ``RESOLVED_FOR_S`` and checked at every call. An answer larger than ``MAX_ANSWER_BYTES`` is
    refused.

    Args:
        allow_private: Accept loopback, private and link-local addresses (a provider inside
            your own network; the tests' local OAuth server).
        limit: Open connections at most (per host and in all).
        resolver: Host name to addresses (tests inject one).
    """

    def __init__(
        self, *, allow_private: bool, limit: int = 100, resolver: Resolver = system_resolver
    ) -> None:
        self._allow_private = allow_private
        self._limit = limit
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None
        self._resolved: TTLCache[tuple[str, int], list[str]] = TTLCache(maxsize=256, ttl=RESOLVED_FOR_S)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit)
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=False, trace_configs=[_upstream_clock()]
            )
        return self._session

    async def send(self, spec: HttpRequestSpec, *, timeout: float) -> ProviderResponse:
        """Send one request to a provider.

        Args:
            spec: The request built by :mod:`shared.providers.oauth`.
            timeout: Total seconds allowed for connect, write and read.

        Returns:
            The status, content type, raw body and Retry-After (seconds).

        Raises:
            ProviderUnavailable: Timeout or connection failure (retryable).
        """
        # Only scheme, host and path appear in errors: query strings may carry codes.
        parts = urlsplit(spec.url)
        where = f"{parts.scheme}://{parts.netloc}{parts.path}"
        url, headers, server_hostname = spec.url, spec.headers, None
        if not self._allow_private:
            url, headers, server_hostname = await self._pinned(parts, spec.headers, where)
        stamps: dict[str, float] = {}
        try:
            async with self._open().request(
                spec.method,
                url,
                headers=headers,
                data=spec.form,
                json=spec.json,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
                server_hostname=server_hostname,
                trace_request_ctx=stamps,
            ) as response:
                body = await _capped(response, where)
                read = time.perf_counter()
        except TimeoutError:
            raise ProviderUnavailable(f"timed out calling {where}", url=where) from None
        except aiohttp.ClientError as exc:
            raise ProviderUnavailable(f"could not reach {where}: {type(exc).__name__}", url=where) from None
        return ProviderResponse(
            status_code=response.status,
            content_type=response.headers.get("content-type", ""),
            body=body,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            upstream_seconds=read - stamps["sent"] if "sent" in stamps else None,
        )

    async def _pinned(
        self, parts: SplitResult, headers: dict[str, str], where: str
    ) -> tuple[str, dict[str, str], str | None]:
        """The URL with a checked address in place of the host name, its headers and TLS name.

        Raises:
            TargetRefused: The host resolves to an address the policy refuses.
            ProviderUnavailable: The host does not resolve (now).
        """
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        literal = literal_address(host)
        addresses = [str(literal)] if literal else await self._addresses(host, port)
        if not addresses:
            raise ProviderUnavailable(f"cannot resolve {where}", url=where)
        if (refused := first_refused(addresses)) is not None:
            raise TargetRefused(
                f"{where} resolves to a loopback, private or link-local address ({refused}); "
                "set security.allow_private_targets to allow it"
            )
        url, host_header, server_hostname = pinned(parts, addresses[0])
        return url, {**headers, "Host": host_header}, server_hostname

    async def _addresses(self, host: str, port: int) -> list[str]:
        """The host's addresses, resolved at most once in ``RESOLVED_FOR_S``; [] when it does
        not resolve (that is not kept)."""
        if (known := self._resolved.get((host, port))) is not None:
            return known
        try:
            found = await self._resolver(host, port)
        except OSError:
            return []
        if found:
            self._resolved[(host, port)] = found
        return found

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
