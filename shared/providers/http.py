"""Send an :class:`HttpRequestSpec` with httpx; transport failures become ProviderUnavailable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from shared.errors import ProviderUnavailable
from shared.providers.oauth import HttpRequestSpec


@dataclass(frozen=True)
class ProviderResponse:
    """What the parsers need from a provider's answer."""

    status_code: int
    content_type: str
    body: bytes
    retry_after: float | None = None


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


async def send(client: httpx.AsyncClient, spec: HttpRequestSpec, *, timeout: float) -> ProviderResponse:
    """Send one request to a provider.

    Args:
        client: A shared client (connection pooling); redirects are not followed.
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
    try:
        response = await client.request(
            spec.method,
            spec.url,
            headers=spec.headers,
            data=spec.form,
            json=spec.json,
            timeout=timeout,
            follow_redirects=False,
        )
    except httpx.TimeoutException:
        raise ProviderUnavailable(f"timed out calling {where}", url=where) from None
    except httpx.TransportError as exc:
        raise ProviderUnavailable(f"could not reach {where}: {type(exc).__name__}", url=where) from None
    return ProviderResponse(
        status_code=response.status_code,
        content_type=response.headers.get("content-type", ""),
        body=response.content,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )
