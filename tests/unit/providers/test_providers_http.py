"""Sending request specs with httpx (MockTransport)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from shared.errors import ProviderUnavailable
from shared.providers.http import parse_retry_after, send
from shared.providers.oauth import HttpRequestSpec


async def test_send_posts_the_form_and_returns_status_type_body_and_retry_after() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            429, headers={"Retry-After": "7", "Content-Type": "application/json"}, content=b"{}"
        )

    spec = HttpRequestSpec(
        "POST", "https://p.example/token", {"Accept": "application/json"}, form={"a": "1 2"}
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        response = await send(client, spec, timeout=5)
    assert (response.status_code, response.content_type, response.body, response.retry_after) == (
        429,
        "application/json",
        b"{}",
        7.0,
    )
    assert seen[0].content == b"a=1+2"
    assert seen[0].headers["Accept"] == "application/json"


async def test_send_encodes_a_json_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=request.content)

    spec = HttpRequestSpec("POST", "https://p.example/token", json={"code": "c"})
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        response = await send(client, spec, timeout=5)
    assert response.body == b'{"code":"c"}'


@pytest.mark.parametrize("error", [httpx.ConnectTimeout("slow"), httpx.ConnectError("refused")])
async def test_timeouts_and_connection_errors_are_provider_unavailable(error: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    spec = HttpRequestSpec("GET", "https://p.example/me?code=secret-code")
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ProviderUnavailable) as caught:
            await send(client, spec, timeout=1)
    assert caught.value.retryable
    assert "secret-code" not in str(caught.value.to_payload())


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Wed, 01 Jan 2025 00:01:00 GMT", now=now) == 60.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
