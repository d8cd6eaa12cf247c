"""The real test OAuth server (oidc-provider) behaves like the providers our broker talks to.

Everything here goes over HTTP: the scripted browser plays the user, plain httpx
calls play the OAuth client.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import consent, consent_and_follow
from tests.support.oauth_server import OAuthClient, OAuthServer, start_oauth_server

pytestmark = pytest.mark.integration

CALLBACK = "http://127.0.0.1:9/callback"  # never requested: the browser stops before it
BASIC = OAuthClient("basic-app", [CALLBACK], client_secret="basic-secret")
POST = OAuthClient(
    "post-app", [CALLBACK], client_secret="post-secret", token_endpoint_auth_method="client_secret_post"
)
PKCE = OAuthClient("pkce-app", [CALLBACK], client_secret="pkce-secret", require_pkce=True)
PUBLIC = OAuthClient("public-app", [CALLBACK], token_endpoint_auth_method="none", require_pkce=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuthServer]:
    tmp_dir = tmp_path_factory.mktemp("oauth_server")
    with start_oauth_server(tmp_dir, clients=[BASIC, POST, PKCE, PUBLIC], access_token_ttl=60) as running:
        yield running


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[OAuthServer]:
    """A server of its own, for tests that count requests or need a tiny token TTL."""
    with start_oauth_server(tmp_path, clients=[BASIC], access_token_ttl=1) as running:
        yield running


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(server: OAuthServer, client: OAuthClient, *, scope: str, **extra: str) -> httpx.URL:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": CALLBACK,
        "scope": scope,
        "state": "state-123",
        **extra,
    }
    return httpx.URL(server.authorize_endpoint, params=params)


async def authorize(server: OAuthServer, client: OAuthClient, *, login: str = "alice", **extra: str) -> str:
    """Run login and consent; return the authorization code from the callback."""
    url = authorize_url(server, client, scope=extra.pop("scope", "openid profile email read"), **extra)
    callback = await consent(url, login=login, stop_at_prefix=CALLBACK)
    assert callback.params["state"] == "state-123"
    return callback.params["code"]


async def token_call(server: OAuthServer, client: OAuthClient, form: dict[str, str]) -> httpx.Response:
    """POST to the token endpoint, authenticating the way the client is registered."""
    auth: httpx.BasicAuth | None = None
    data = dict(form)
    if client.token_endpoint_auth_method == "client_secret_basic":
        auth = httpx.BasicAuth(client.client_id, client.client_secret or "")
    else:
        data["client_id"] = client.client_id
        if client.token_endpoint_auth_method == "client_secret_post":
            data["client_secret"] = client.client_secret or ""
    async with httpx.AsyncClient(trust_env=False, auth=auth) as http:
        return await http.post(server.token_endpoint, data=data)


async def redeem(server: OAuthServer, client: OAuthClient, code: str, **extra: str) -> dict[str, Any]:
    response = await token_call(
        server, client, {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, **extra}
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def refresh(server: OAuthServer, client: OAuthClient, refresh_token: str) -> httpx.Response:
    return await token_call(server, client, {"grant_type": "refresh_token", "refresh_token": refresh_token})


async def userinfo(server: OAuthServer, access_token: str) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as http:
        return await http.get(server.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"})


async def test_authorization_code_with_client_secret_basic_issues_access_and_refresh_tokens(
    server: OAuthServer,
) -> None:
    tokens = await redeem(server, BASIC, await authorize(server, BASIC, scope="openid read write"))

    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 60
    assert set(tokens["scope"].split()) == {"openid", "read", "write"}
    assert tokens["refresh_token"]  # without offline_access: providers like GitHub do the same


async def test_authorization_code_with_client_secret_post_issues_tokens(server: OAuthServer) -> None:
    tokens = await redeem(server, POST, await authorize(server, POST))

    assert tokens["access_token"]
    assert tokens["refresh_token"]


async def test_secret_clients_may_use_basic_or_post_and_stats_record_which(fresh_server: OAuthServer) -> None:
    # oidc-provider treats the two secret methods as interchangeable, unlike a strict provider.
    code = await authorize(fresh_server, BASIC)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    form |= {"client_id": BASIC.client_id, "client_secret": BASIC.client_secret or ""}
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.post(fresh_server.token_endpoint, data=form)

    assert response.status_code == 200
    assert fresh_server.stats().token_auth_methods == {"client_secret_post": 1}


async def test_a_wrong_client_secret_is_refused(server: OAuthServer) -> None:
    code = await authorize(server, BASIC)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.post(server.token_endpoint, data=form, auth=(BASIC.client_id, "wrong"))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_an_authorization_code_can_be_redeemed_only_once(server: OAuthServer) -> None:
    code = await authorize(server, BASIC)
    await redeem(server, BASIC, code)

    response = await token_call(
        server, BASIC, {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    )

    assert response.json()["error"] == "invalid_grant"


async def test_pkce_s256_code_is_exchanged_with_the_matching_verifier(server: OAuthServer) -> None:
    verifier, challenge = pkce_pair()
    code = await authorize(server, PKCE, code_challenge=challenge, code_challenge_method="S256")

    tokens = await redeem(server, PKCE, code, code_verifier=verifier)

    assert tokens["access_token"]


async def test_a_wrong_pkce_verifier_is_refused(server: OAuthServer) -> None:
    _, challenge = pkce_pair()
    code = await authorize(server, PKCE, code_challenge=challenge, code_challenge_method="S256")
    wrong_verifier, _ = pkce_pair()

    response = await token_call(
        server,
        PKCE,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": wrong_verifier,
        },
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_a_client_that_requires_pkce_rejects_an_authorization_request_without_it(
    server: OAuthServer,
) -> None:
    url = authorize_url(server, PKCE, scope="openid")

    callback = await consent(url, login="alice", stop_at_prefix=CALLBACK)

    assert callback.params["error"] == "invalid_request"


async def test_a_public_client_uses_pkce_and_no_secret(server: OAuthServer) -> None:
    verifier, challenge = pkce_pair()
    code = await authorize(server, PUBLIC, code_challenge=challenge, code_challenge_method="S256")

    tokens = await redeem(server, PUBLIC, code, code_verifier=verifier)

    assert tokens["refresh_token"]


async def test_userinfo_returns_the_login_name_as_subject(server: OAuthServer) -> None:
    tokens = await redeem(
        server, BASIC, await authorize(server, BASIC, login="bob", scope="openid profile email")
    )

    response = await userinfo(server, tokens["access_token"])

    assert response.status_code == 200
    assert response.json() == {
        "sub": "bob",
        "name": "bob",
        "email": "bob@example.test",
        "email_verified": True,
    }


async def test_denying_consent_redirects_with_access_denied(server: OAuthServer) -> None:
    url = authorize_url(server, BASIC, scope="openid read")

    callback = await consent(url, login="alice", approve=False, stop_at_prefix=CALLBACK)

    assert callback.params["error"] == "access_denied"
    assert callback.params["state"] == "state-123"
    assert "code" not in callback.params


async def test_refresh_returns_new_tokens_and_rotates_the_refresh_token(server: OAuthServer) -> None:
    first = await redeem(server, BASIC, await authorize(server, BASIC))

    response = await refresh(server, BASIC, first["refresh_token"])

    second = response.json()
    assert response.status_code == 200, second
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert (await userinfo(server, second["access_token"])).json()["sub"] == "alice"


async def test_reusing_a_rotated_refresh_token_revokes_the_grant(server: OAuthServer) -> None:
    first = await redeem(server, BASIC, await authorize(server, BASIC))
    second = (await refresh(server, BASIC, first["refresh_token"])).json()

    reuse = await refresh(server, BASIC, first["refresh_token"])

    assert reuse.status_code == 400
    assert reuse.json() == {"error": "invalid_grant", "error_description": "grant request is invalid"}
    # The replay detection revoked the whole grant: the newest tokens are dead too.
    assert (await refresh(server, BASIC, second["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await userinfo(server, second["access_token"])).status_code == 401


async def test_stats_count_token_requests_by_grant_type(fresh_server: OAuthServer) -> None:
    tokens = await redeem(fresh_server, BASIC, await authorize(fresh_server, BASIC))
    rotated = (await refresh(fresh_server, BASIC, tokens["refresh_token"])).json()
    await refresh(fresh_server, BASIC, tokens["refresh_token"])  # replay: refused

    stats = fresh_server.stats()

    assert stats.token_requests == {"authorization_code": 1, "refresh_token": 2}
    assert stats.token_errors == {"refresh_token": 1}
    assert stats.token_auth_methods == {"client_secret_basic": 3}
    fresh_server.reset()
    assert fresh_server.stats().token_requests == {}
    assert rotated["refresh_token"]


async def test_access_tokens_expire_after_the_configured_ttl(fresh_server: OAuthServer) -> None:
    tokens = await redeem(fresh_server, BASIC, await authorize(fresh_server, BASIC))
    assert tokens["expires_in"] == 1

    await asyncio.sleep(1.5)

    assert (await userinfo(fresh_server, tokens["access_token"])).status_code == 401
    assert (await refresh(fresh_server, BASIC, tokens["refresh_token"])).status_code == 200


async def test_consent_and_follow_delivers_the_callback(server: OAuthServer) -> None:
    seen: list[httpx.URL] = []

    def callback_app(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, text="connected")

    # The callback host is served in-process, the OAuth server over the network.
    mounts = {"http://127.0.0.1:9": httpx.MockTransport(callback_app)}
    async with httpx.AsyncClient(trust_env=False, mounts=mounts) as browser:
        url = authorize_url(server, BASIC, scope="openid")
        response = await consent_and_follow(url, login="carol", callback_prefix=CALLBACK, client=browser)

    assert response.text == "connected"
    assert seen[0].params["code"]
