"""Sending request specs to a real local HTTP server (aiohttp.web on loopback)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from shared.errors import ProviderError, ProviderUnavailable, TargetRefused
from shared.providers.http import MAX_ANSWER_BYTES, ProviderHttp, parse_retry_after, pinned
from shared.providers.oauth import HttpRequestSpec
from tools.launcher.embedded import free_port


class Upstream:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str], bytes]] = []
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def token(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, dict(request.headers), await request.read()))
        headers = {"Retry-After": "7", "Content-Type": "application/json"}
        return web.Response(status=429, body=b"{}", headers=headers)

    async def echo(self, request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    async def slow(self, _: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")

    async def pause(self, _: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return web.Response(text="done")

    async def moved(self, _: web.Request) -> web.Response:
        raise web.HTTPFound("/token")

    async def huge(self, _: web.Request) -> web.Response:
        return web.Response(body=b"x" * (MAX_ANSWER_BYTES + 1))


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    app = web.Application()
    app.router.add_post("/token", up.token)
    app.router.add_post("/echo", up.echo)
    app.router.add_get("/slow", up.slow)
    app.router.add_get("/pause", up.pause)
    app.router.add_get("/moved", up.moved)
    app.router.add_get("/huge", up.huge)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", up.port).start()
    yield up
    await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[ProviderHttp]:
    client = ProviderHttp(allow_private=True)
    yield client
    await client.aclose()


async def test_send_posts_the_form_and_returns_status_type_body_and_retry_after(upstream, http) -> None:
    spec = HttpRequestSpec("POST", f"{upstream.url}/token", {"Accept": "application/json"}, form={"a": "1 2"})
    response = await http.send(spec, timeout=5)
    assert (response.status_code, response.content_type, response.body, response.retry_after) == (
        429,
        "application/json",
        b"{}",
        7.0,
    )
    method, headers, body = upstream.seen[0]
    assert (method, body, headers["Accept"]) == ("POST", b"a=1+2", "application/json")


async def test_send_encodes_a_json_body(upstream, http) -> None:
    spec = HttpRequestSpec("POST", f"{upstream.url}/echo", json={"code": "c"})
    assert (await http.send(spec, timeout=5)).body == b'{"code": "c"}'


async def test_the_upstream_time_covers_the_providers_own_wait(upstream, http) -> None:
    response = await http.send(HttpRequestSpec("GET", f"{upstream.url}/pause"), timeout=5)
    assert response.upstream_seconds is not None and response.upstream_seconds >= 0.05


async def test_a_redirect_is_returned_not_followed(upstream, http) -> None:
    response = await http.send(HttpRequestSpec("GET", f"{upstream.url}/moved"), timeout=5)
    assert response.status_code == 302
    assert upstream.seen == []


async def test_a_timeout_is_provider_unavailable_without_the_query(upstream, http) -> None:
    spec = HttpRequestSpec("GET", f"{upstream.url}/slow?code=secret-code")
    with pytest.raises(ProviderUnavailable) as caught:
        await http.send(spec, timeout=0.2)
    assert caught.value.retryable and "timed out" in caught.value.message
    assert "secret-code" not in str(caught.value.to_payload())


async def test_a_refused_connection_is_provider_unavailable_without_the_query(http) -> None:
    spec = HttpRequestSpec("GET", f"http://127.0.0.1:{free_port()}/me?code=secret-code")
    with pytest.raises(ProviderUnavailable) as caught:
        await http.send(spec, timeout=2)
    assert caught.value.retryable and "could not reach" in caught.value.message
    assert "secret-code" not in str(caught.value.to_payload())


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Wed, 01 Jan 2025 00:01:00 GMT", now=now) == 60.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


class TestAddressPolicy:
    async def test_an_answer_larger_than_the_cap_is_refused(self, upstream, http):
        with pytest.raises(ProviderError, match="more than"):
            await http.send(HttpRequestSpec("GET", f"{upstream.url}/huge"), timeout=5)

    @pytest.mark.parametrize(
        "address", ["127.0.0.1", "169.254.169.254", "10.0.0.7", "::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe"]
    )
    async def test_a_name_resolving_to_a_refused_address_is_not_called(self, address):
        async def resolver(host: str, port: int) -> list[str]:
            return ["93.184.216.34", address]  # one bad address among good ones is enough

        client = ProviderHttp(allow_private=False, resolver=resolver)
        try:
            with pytest.raises(TargetRefused, match=r"security\.allow_private_targets"):
                await client.send(HttpRequestSpec("POST", "https://idp.example/token"), timeout=5)
        finally:
            await client.aclose()

    async def test_a_name_is_resolved_once_for_two_calls_and_each_call_checks_its_addresses(self):
        lookups: list[str] = []

        async def resolver(host: str, port: int) -> list[str]:
            lookups.append(host)
            return ["10.0.0.7"]

        client = ProviderHttp(allow_private=False, resolver=resolver)
        try:
            for _ in range(2):
                with pytest.raises(TargetRefused):
                    await client.send(HttpRequestSpec("POST", "https://idp.example/token"), timeout=5)
        finally:
            await client.aclose()
        assert lookups == ["idp.example"]

    async def test_a_literal_metadata_address_is_refused_without_a_lookup(self):
        client = ProviderHttp(allow_private=False)
        try:
            with pytest.raises(TargetRefused, match=r"169\.254\.169\.254"):
                await client.send(
                    HttpRequestSpec("GET", "http://169.254.169.254/latest/meta-data"), timeout=5
                )
        finally:
            await client.aclose()

    def test_the_connection_is_pinned_to_the_checked_address_with_the_name_kept_for_host_and_tls(self):
        assert pinned(urlsplit("https://idp.example/oauth/token?x=1"), "93.184.216.34") == (
            "https://93.184.216.34:443/oauth/token?x=1",
            "idp.example",
            "idp.example",
        )
        assert pinned(urlsplit("http://idp.example:8080/t"), "2606:4700::1111") == (
            "http://[2606:4700::1111]:8080/t",
            "idp.example:8080",
            None,
        )
