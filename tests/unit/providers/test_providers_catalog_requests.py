"""Every catalog provider builds sound requests: state and PKCE where due, scopes joined with its
delimiter, the client secret never in the browser's URL and sent once, a refresh only where it refreshes."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from shared.providers.catalog import load_catalog
from shared.providers.oauth import (
    build_authorize_url,
    build_refresh_request,
    build_revocation_request,
    build_token_request,
    build_user_info_request,
    code_challenge_s256,
)
from tests.support.provider_examples import REDIRECT, builtin

VERIFIER = "v" * 43
PROVIDERS = sorted(load_catalog().entries)
#: Revocation endpoints that take the token alone.
REVOKE_WITHOUT_CLIENT_AUTH = {"salesforce", "google"}
#: The RFC 7009 endpoints each provider documents (deleting a connection revokes there).
REVOCATION_ENDPOINTS = {
    "google": "https://oauth2.googleapis.com/revoke",
    "x": "https://api.x.com/2/oauth2/revoke",
    "discord": "https://discord.com/api/oauth2/token/revoke",
    "reddit": "https://www.reddit.com/api/v1/revoke_token",
}


@pytest.mark.parametrize("provider_id", PROVIDERS)
def test_a_catalog_providers_authorize_url_carries_state_pkce_and_its_scopes(provider_id: str) -> None:
    provider = builtin(provider_id)
    url = build_authorize_url(
        provider,
        redirect_uri=REDIRECT,
        scopes=["s1", "s2"],
        existing_scopes=[],
        state="st4te",
        code_challenge=code_challenge_s256(VERIFIER),
    )
    assert "csecret" not in url
    query = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    assert query["state"] == "st4te"
    assert ("code_challenge" in query) == provider.oauth2.pkce.enabled
    scoped = [key for key, value in provider.oauth2.authorize_request.params.items() if "{{scopes}}" in value]
    wanted = provider.oauth2.scope_delimiter.join(["s1", "s2", *provider.quirks.extra_scopes])
    for key in scoped:
        assert query[key] == wanted


@pytest.mark.parametrize("provider_id", PROVIDERS)
def test_a_catalog_providers_token_request_sends_the_code_and_the_secret_once(provider_id: str) -> None:
    provider = builtin(provider_id)
    spec = build_token_request(provider, code="c0de", redirect_uri=REDIRECT, code_verifier=VERIFIER)
    body = spec.form if spec.form is not None else (spec.json or {})
    assert body["code"] == "c0de"
    assert ("code_verifier" in body) == provider.oauth2.pkce.enabled
    basic = spec.headers.get("Authorization", "").startswith("Basic ")
    assert basic == (provider.oauth2.token_request.auth_method == "client_secret_basic")
    assert (body.get("client_secret") == "csecret") != basic


@pytest.mark.parametrize("provider_id", PROVIDERS)
def test_a_catalog_provider_refreshes_only_if_it_issues_refresh_tokens(provider_id: str) -> None:
    provider = builtin(provider_id)
    spec = build_refresh_request(provider, refresh_token="r3fresh")
    assert (spec is not None) == provider.quirks.supports_refresh
    if spec is not None:
        body = spec.form if spec.form is not None else (spec.json or {})
        assert body["refresh_token"] == "r3fresh"
        assert body["grant_type"] == "refresh_token"


@pytest.mark.parametrize(
    "provider_id", [p for p in PROVIDERS if builtin(p).oauth2.user_info_request is not None]
)
def test_a_catalog_providers_user_info_request_carries_the_access_token(provider_id: str) -> None:
    spec = build_user_info_request(builtin(provider_id), "at-1")
    assert spec is not None
    assert spec.headers["Authorization"].endswith("at-1")  # Bearer, ClickUp's bare token, Mailchimp's OAuth
    assert "csecret" not in spec.url


@pytest.mark.parametrize(
    "provider_id", [p for p in PROVIDERS if builtin(p).oauth2.token_revocation_request is not None]
)
def test_a_catalog_providers_revocation_request_names_the_token_and_the_client(provider_id: str) -> None:
    if provider_id in REVOCATION_ENDPOINTS:
        spec = build_revocation_request(builtin(provider_id), "rt-1")
        assert spec is not None and spec.url == REVOCATION_ENDPOINTS[provider_id]
    spec = build_revocation_request(builtin(provider_id), "rt-1", token_type_hint="refresh_token")
    assert spec is not None
    body = spec.form if spec.form is not None else (spec.json or {})
    assert body["token"] == "rt-1"
    if provider_id in REVOKE_WITHOUT_CLIENT_AUTH:
        return
    assert spec.headers.get("Authorization", "").startswith("Basic ") or body.get("client_id") == "cid"
