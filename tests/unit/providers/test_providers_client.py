"""The one provider client: what it sends for each call and how it classifies the answers."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared.errors import InvalidGrant, ProviderError, ProviderUnavailable
from shared.providers import timing
from shared.providers.client import ProviderClient
from shared.providers.http import ProviderResponse
from shared.providers.oauth import HttpRequestSpec
from tests.support.provider_examples import NOW, REDIRECT, hooli

REVOKE = {"endpoint": "https://hooli.example/oauth/revoke", "auth_method": "client_secret_basic"}
REFRESH = {"endpoint": "https://hooli.example/oauth/token", "auth_method": "client_secret_basic"}
USER_INFO = {"endpoint": "https://hooli.example/me"}


class Script:
    """A transport answering from a list, recording what it was asked to send."""

    def __init__(self, *answers: tuple[int, Any]) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[HttpRequestSpec, float]] = []

    async def send(self, spec: HttpRequestSpec, *, timeout: float) -> ProviderResponse:
        self.sent.append((spec, timeout))
        status, body = self.answers.pop(0)
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return ProviderResponse(status, "application/json", raw, retry_after=3.0, upstream_seconds=0.25)


def client(script: Script) -> ProviderClient:
    return ProviderClient(script, clock=lambda: NOW, timeout=7.0)


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


async def test_exchange_sends_the_code_and_pkce_verifier_and_returns_the_grant() -> None:
    script = Script((200, {"access_token": "at", "expires_in": 60, "scope": "a b"}))
    provider = hooli(pkce={"enabled": True})
    grant = await client(script).exchange(
        provider, code="c0de", redirect_uri=REDIRECT, code_verifier="v" * 43
    )
    spec, timeout = script.sent[0]
    assert spec.url == "https://hooli.example/oauth/token" and timeout == 7.0
    assert spec.form is not None and spec.form["code"] == "c0de" and spec.form["code_verifier"] == "v" * 43
    assert spec.form["grant_type"] == "authorization_code" and spec.form["redirect_uri"] == REDIRECT
    assert grant.access_token == "at" and grant.scopes == ["a", "b"]
    assert grant.expires_at is not None and (grant.expires_at - NOW).total_seconds() == 60


async def test_the_upstream_times_are_collected_by_call_inside_a_timing_block() -> None:
    script = Script((200, {"access_token": "at"}), (200, {"sub": "u"}), (200, {"sub": "u"}))
    provider = hooli(user_info_request=USER_INFO)
    with timing.upstream_times() as upstream:
        grant = await client(script).exchange(
            provider, code="c", redirect_uri=REDIRECT, code_verifier="v" * 43
        )
        await client(script).user_info(provider, grant.access_token)
    await client(script).user_info(provider, grant.access_token)  # outside: not collected
    assert upstream == {"token": 0.25, "user_info": 0.25}


async def test_a_refused_code_is_an_invalid_grant() -> None:
    script = Script((400, {"error": "invalid_grant"}))
    with pytest.raises(InvalidGrant):
        await client(script).exchange(hooli(), code="c", redirect_uri=REDIRECT, code_verifier="v" * 43)


async def test_refresh_sends_the_refresh_token_with_basic_auth_and_a_caller_budget() -> None:
    script = Script((200, {"access_token": "at-2", "refresh_token": "rt-2"}))
    provider = hooli(refresh_token_request=REFRESH)
    grant = await client(script).refresh(provider, refresh_token="rt-1", timeout=2.5)
    spec, timeout = script.sent[0]
    assert spec.form == {"grant_type": "refresh_token", "refresh_token": "rt-1"} and timeout == 2.5
    assert spec.headers["Authorization"] == basic("hooli-id", "hooli-secret")
    assert grant.access_token == "at-2" and grant.refresh_token == "rt-2"


async def test_a_spent_budget_still_gets_a_tenth_of_a_second() -> None:
    script = Script((200, {"access_token": "at"}))
    await client(script).refresh(hooli(), refresh_token="rt", timeout=-1.0)
    assert script.sent[0][1] == 0.1


async def test_a_refresh_that_cannot_be_built_sends_nothing() -> None:
    script = Script()
    with pytest.raises(ProviderUnavailable):
        await client(script).refresh(hooli(), refresh_token=None)
    assert script.sent == []


async def test_a_503_on_refresh_is_unavailable_and_keeps_retry_after() -> None:
    script = Script((503, {}))
    with pytest.raises(ProviderUnavailable) as caught:
        await client(script).refresh(hooli(), refresh_token="rt")
    assert caught.value.details["retry_after"] == 3.0


async def test_user_info_sends_the_bearer_token_and_scrubs_the_answer() -> None:
    script = Script((200, {"sub": "alice", "id_token": "secret"}))
    info = await client(script).user_info(hooli(user_info_request=USER_INFO), "at-9")
    spec, _ = script.sent[0]
    assert spec.method == "GET" and spec.headers["Authorization"] == "Bearer at-9"
    assert info == {"sub": "alice"}


async def test_user_info_without_a_configured_request_is_empty_and_sends_nothing() -> None:
    script = Script()
    assert await client(script).user_info(hooli(), "at") == {}
    assert script.sent == []


async def test_revoke_posts_the_token_and_hint_with_client_authentication() -> None:
    script = Script((200, b""))
    revoked = await client(script).revoke(
        hooli(token_revocation_request=REVOKE), "rt-1", token_type_hint="refresh_token"
    )
    spec, _ = script.sent[0]
    assert revoked and spec.url == REVOKE["endpoint"] and spec.method == "POST"
    assert spec.form == {"token": "rt-1", "token_type_hint": "refresh_token"}
    assert spec.headers["Authorization"] == basic("hooli-id", "hooli-secret")


async def test_revoke_without_a_revocation_endpoint_is_false_and_sends_nothing() -> None:
    script = Script()
    assert await client(script).revoke(hooli(), "rt-1") is False
    assert script.sent == []


async def test_a_revocation_error_is_a_provider_error_with_its_code() -> None:
    script = Script((400, {"error": "unsupported_token_type"}))
    with pytest.raises(ProviderError) as caught:
        await client(script).revoke(hooli(token_revocation_request=REVOKE), "at")
    assert caught.value.details["provider_error"] == "unsupported_token_type"


async def test_a_revocation_503_is_unavailable() -> None:
    script = Script((503, b""))
    with pytest.raises(ProviderUnavailable):
        await client(script).revoke(hooli(token_revocation_request=REVOKE), "at")
