"""MCP authorization (``auth: oauth``, docs/mcp.md): the platform's OpenID provider signs the user in,
the gateway checks the access token and runs tools for its ``sub``.

One oidc-provider plays the platform's OpenID provider (JWT access tokens for the gateways'
URLs, RFC 8707) and the hooli provider. The ``brief`` gateway's tokens live 2 seconds, so a test
can hold an expired one. Nothing here is faked.
"""

import asyncio
import json
import secrets

import httpx
import pytest

from tests.support.browser import consent_and_follow
from tests.support.engine import base_config, running_engine
from tests.support.mcp_clients import mcp_access_token, mcp_session
from tests.support.oauth_server import OAuthClient, start_oauth_server
from tests.support.providers import oidc_provider_entry
from tools.launcher import embedded

pytestmark = pytest.mark.e2e

BRIEF_TOKEN_SECONDS = 2
MCP_CLIENT = OAuthClient("mcp-client", ["http://127.0.0.1:9/mcp-client/callback"], client_secret="mcp-secret")
GATEWAYS = [
    {"slug": "signed", "tools": ["Hooli.Ping", "Hooli.ReticulateSplines"], "auth": "oauth"},
    {"slug": "brief", "tools": ["Hooli.Ping"], "auth": "oauth"},
    {"slug": "keyed", "tools": ["Hooli.Ping"]},
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url):
    home = tmp_path_factory.mktemp("mcp-oauth-engine")
    port = embedded.free_port()
    base = f"http://127.0.0.1:{port}"
    hooli = OAuthClient("hooli-app", [f"{base}/oauth/callback"], client_secret="hooli-secret")
    platform = OAuthClient("platform", [f"{base}/oauth/verify/callback"], client_secret="platform-secret")
    resources = {f"{base}/mcp/signed": 3600, f"{base}/mcp/brief": BRIEF_TOKEN_SECONDS}
    with start_oauth_server(home, clients=[hooli, platform, MCP_CLIENT], jwt_resources=resources) as oauth:
        entry = oidc_provider_entry(oauth, id="hooli", client_id="hooli-app", client_secret="hooli-secret")
        entry["oauth2"]["authorize_request"]["params"]["scope"] = "openid {{scopes}} {{existing_scopes}}"
        config = base_config(port, secrets.token_urlsafe(32))
        config["auth"]["providers"] = [entry]
        config["auth"]["verification"]["oidc"] = {
            "issuer": oauth.issuer,
            "client_id": "platform",
            "client_secret": "platform-secret",
        }
        config["tools"]["toolkits"] = ["tests.support.toolkits.hooli"]
        config["mcp"] = {"gateways": GATEWAYS}
        with running_engine(home, nats_url=nats_url, redis_url=redis_url, config=config) as running:
            running.oauth = oauth
            yield running


def url(engine, slug: str) -> str:
    return f"{engine.base_url}/mcp/{slug}"


async def token_for(engine, slug: str, login: str) -> str:
    return await mcp_access_token(engine.oauth, MCP_CLIENT, url(engine, slug), login=login)


async def post(target: str, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        return await client.post(target, headers=headers, json={})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TestProtectedResourceMetadata:
    def test_an_unauthenticated_call_is_401_pointing_at_the_metadata(self, engine):
        response = httpx.post(url(engine, "signed"), json={}, timeout=30)
        assert response.status_code == 401
        metadata_url = f"{engine.base_url}/.well-known/oauth-protected-resource/mcp/signed"
        assert response.headers["www-authenticate"] == f'Bearer resource_metadata="{metadata_url}"'
        assert response.json()["name"] == "access_token_required"

    def test_the_metadata_names_the_gateway_and_the_platforms_issuer(self, engine):
        response = httpx.get(f"{engine.base_url}/.well-known/oauth-protected-resource/mcp/signed", timeout=30)
        assert response.status_code == 200
        body = response.json()
        assert body["resource"] == url(engine, "signed")
        assert body["authorization_servers"] == [engine.oauth.issuer]

    def test_a_gateway_that_takes_api_keys_has_no_metadata(self, engine):
        response = httpx.get(f"{engine.base_url}/.well-known/oauth-protected-resource/mcp/keyed", timeout=30)
        assert response.status_code == 404


class TestSignedInUser:
    async def test_the_tokens_user_runs_tools_and_consents_to_a_provider_as_themselves(self, engine):
        login = f"erlich-{secrets.token_hex(3)}"
        token = await token_for(engine, "signed", login)
        async with mcp_session(url(engine, "signed"), bearer(token)) as session:
            assert [c.text for c in (await session.call_tool("Hooli_Ping", {})).content] == ["pong"]
            first = await session.call_tool("Hooli_ReticulateSplines", {"num_splines": 2})
            assert first.is_error
            authorization_url = json.loads(first.content[1].text)["authorization_url"]
            await consent_and_follow(authorization_url, login=login, callback_prefix=engine.redirect_uri)
            second = await session.call_tool("Hooli_ReticulateSplines", {"num_splines": 2})
        value = json.loads(second.content[0].text)
        assert (value["reticulated"], value["user_id"], value["sub"]) == (2, login, login)

    async def test_an_arcade_user_id_header_cannot_make_a_signed_in_user_act_for_another(self, engine):
        login = f"richard-{secrets.token_hex(3)}"
        headers = bearer(await token_for(engine, "signed", login)) | {"Arcade-User-ID": "someone-else"}
        async with mcp_session(url(engine, "signed"), headers) as session:
            first = await session.call_tool("Hooli_ReticulateSplines", {"num_splines": 1})
            authorization_url = json.loads(first.content[1].text)["authorization_url"]
            await consent_and_follow(authorization_url, login=login, callback_prefix=engine.redirect_uri)
            second = await session.call_tool("Hooli_ReticulateSplines", {"num_splines": 1})
        assert not second.is_error, second
        assert json.loads(second.content[0].text)["user_id"] == login

    async def test_an_expired_token_is_401_invalid_token(self, engine):
        token = await token_for(engine, "brief", "dinesh")
        await asyncio.sleep(BRIEF_TOKEN_SECONDS + 1)
        response = await post(url(engine, "brief"), bearer(token))
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        assert "expired" in response.json()["message"]

    async def test_a_token_for_another_gateway_is_401(self, engine):
        token = await token_for(engine, "signed", "dinesh")
        response = await post(url(engine, "brief"), bearer(token))
        assert response.status_code == 401
        assert "audience" in response.json()["message"].lower()

    async def test_a_tampered_token_is_401(self, engine):
        token = await token_for(engine, "signed", "dinesh")
        header, payload, signature = token.split(".")
        forged = f"{header}.{payload}.{signature[:-4]}AAAA"
        response = await post(url(engine, "signed"), bearer(forged))
        assert response.status_code == 401
        assert response.json()["name"] == "invalid_token"

    def test_the_api_key_is_no_access_token(self, engine):
        response = httpx.post(url(engine, "signed"), headers=bearer(engine.api_key), json={}, timeout=30)
        assert response.status_code == 401
        assert response.json()["name"] == "invalid_token"
