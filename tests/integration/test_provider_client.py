"""The provider client against the real test OAuth server (oidc-provider): exchange, user info,
refresh and RFC 7009 revocation, over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from shared.errors import InvalidGrant
from shared.providers.catalog import resolve
from shared.providers.client import ProviderClient
from shared.providers.http import ProviderHttp
from shared.providers.models import Provider
from shared.providers.oauth import build_authorize_url, code_challenge_s256, new_code_verifier
from tests.support.browser import consent
from tests.support.oauth_grants import CALLBACK
from tests.support.oauth_server import OAuthClient, OAuthServer, start_oauth_server
from tests.support.providers import oidc_provider_entry

pytestmark = pytest.mark.integration

APP = OAuthClient("client-app", [CALLBACK], client_secret="client-secret", require_pkce=True)
POST_APP = OAuthClient(
    "post-app", [CALLBACK], client_secret="post-secret", token_endpoint_auth_method="client_secret_post"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuthServer]:
    with start_oauth_server(tmp_path_factory.mktemp("oauth_server"), clients=[APP, POST_APP]) as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[ProviderClient]:
    http = ProviderHttp(allow_private=True)  # the OAuth server listens on loopback
    yield ProviderClient(http, clock=lambda: datetime.now(UTC))
    await http.aclose()


def provider(server: OAuthServer) -> Provider:
    entry = oidc_provider_entry(
        server, id="oidc", client_id=APP.client_id, client_secret=APP.client_secret, pkce=True
    )
    entry["oauth2"]["token_revocation_request"] = {
        "endpoint": server.revocation_endpoint,
        "auth_method": "client_secret_basic",
    }
    return resolve(entry)


async def code_for(server: OAuthServer, oidc: Provider, verifier: str, *, login: str) -> str:
    url = build_authorize_url(
        oidc,
        redirect_uri=CALLBACK,
        scopes=["openid", "profile"],
        existing_scopes=[],
        state="s",
        code_challenge=code_challenge_s256(verifier),
    )
    callback = await consent(url, login=login, stop_at_prefix=CALLBACK)
    return str(callback.params["code"])


async def test_a_pkce_exchange_gives_a_grant_whose_token_reads_user_info(server, client) -> None:
    oidc, verifier = provider(server), new_code_verifier()
    code = await code_for(server, oidc, verifier, login="alice")
    grant = await client.exchange(oidc, code=code, redirect_uri=CALLBACK, code_verifier=verifier)
    assert grant.refresh_token and grant.expires_at is not None
    assert (await client.user_info(oidc, grant.access_token))["sub"] == "alice"


async def test_a_revoked_refresh_token_can_no_longer_refresh(server, client) -> None:
    oidc, verifier = provider(server), new_code_verifier()
    code = await code_for(server, oidc, verifier, login="bob")
    grant = await client.exchange(oidc, code=code, redirect_uri=CALLBACK, code_verifier=verifier)
    assert grant.refresh_token is not None
    assert await client.revoke(oidc, grant.refresh_token, token_type_hint="refresh_token")
    with pytest.raises(InvalidGrant):
        await client.refresh(oidc, refresh_token=grant.refresh_token)


async def test_an_unrevoked_refresh_token_still_refreshes(server, client) -> None:
    oidc, verifier = provider(server), new_code_verifier()
    code = await code_for(server, oidc, verifier, login="carol")
    grant = await client.exchange(oidc, code=code, redirect_uri=CALLBACK, code_verifier=verifier)
    fresh = await client.refresh(oidc, refresh_token=grant.refresh_token)
    assert fresh.access_token != grant.access_token


def ticktick_style(server: OAuthServer) -> Provider:
    """Written the way Arcade's TickTick and Zoho pages write theirs: ``{{state}}`` in the authorize
    params, ``{{code}}`` in the token params, the client's credentials posted in the body."""
    return resolve(
        {
            "id": "ticktick-style",
            "type": "oauth2",
            "client_id": POST_APP.client_id,
            "client_secret": POST_APP.client_secret,
            "oauth2": {
                "authorize_request": {
                    "endpoint": server.authorize_endpoint,
                    "params": {
                        "response_type": "code",
                        "client_id": "{{client_id}}",
                        "redirect_uri": "{{redirect_uri}}",
                        "scope": "{{scopes}}",
                        "state": "{{state}}",
                        "prompt": "consent",
                    },
                },
                "token_request": {
                    "endpoint": server.token_endpoint,
                    "auth_method": "client_secret_post",
                    "params": {
                        "grant_type": "authorization_code",
                        "client_id": "{{client_id}}",
                        "client_secret": "{{client_secret}}",
                        "code": "{{code}}",
                        "redirect_uri": "{{redirect_uri}}",
                    },
                },
            },
        }
    )


async def test_a_recipe_writing_state_and_code_as_placeholders_completes_a_real_flow(server, client) -> None:
    recipe, verifier = ticktick_style(server), new_code_verifier()
    url = build_authorize_url(
        recipe,
        redirect_uri=CALLBACK,
        scopes=["openid", "profile"],
        existing_scopes=[],
        state="st4te-from-the-engine",
        code_challenge=code_challenge_s256(verifier),
    )
    callback = await consent(url, login="dave", stop_at_prefix=CALLBACK)
    assert callback.params["state"] == "st4te-from-the-engine"
    grant = await client.exchange(
        recipe, code=str(callback.params["code"]), redirect_uri=CALLBACK, code_verifier=verifier
    )
    assert grant.access_token and grant.refresh_token
    assert server.stats().token_auth_methods.get("client_secret_post", 0) >= 1
