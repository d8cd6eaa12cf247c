"""Verification ``oidc``: the browser user who finished a consent signs in at the platform's
OpenID provider, and the flow completes only when the signed-in ``sub`` is the flow's user.

One oidc-provider plays both parts with two clients: the third-party provider (``basic-app``,
whose consent the engine asks for) and the platform's OpenID provider (``platform``, where
the browser user signs in to prove who they are). Nothing here is faked.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import httpx
import pytest
from arcadepy import Arcade

from shared.contracts.authorization import VERIFY_CALLBACK_PATH, VERIFY_PATH
from tests.support.auth_flows import callback_url, deliver, new_user, start, status
from tests.support.browser import consent
from tests.support.engine import Engine, base_config, running_engine
from tests.support.oauth_server import OAuthClient, OAuthServer, start_oauth_server
from tests.support.providers import oidc_provider_entry
from tools.launcher import embedded

pytestmark = pytest.mark.e2e

SCOPES = ["openid", "profile"]


@pytest.fixture(scope="module")
def port() -> int:
    return embedded.free_port()


@pytest.fixture(scope="module")
def oauth(tmp_path_factory: pytest.TempPathFactory, port: int) -> Iterator[OAuthServer]:
    base = f"http://127.0.0.1:{port}"
    clients = [
        OAuthClient("basic-app", [f"{base}/oauth/callback"], client_secret="basic-secret"),
        OAuthClient("platform", [f"{base}{VERIFY_CALLBACK_PATH}"], client_secret="platform-secret"),
    ]
    with start_oauth_server(tmp_path_factory.mktemp("oauth"), clients=clients) as server:
        yield server


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url, oauth, port) -> Iterator[Engine]:
    config = base_config(port, secrets.token_urlsafe(32))
    config["auth"]["verification"] = {
        "mode": "oidc",
        "oidc": {"issuer": oauth.issuer, "client_id": "platform", "client_secret": "platform-secret"},
    }
    config["auth"]["providers"] = [
        oidc_provider_entry(oauth, id="basic", client_id="basic-app", client_secret="basic-secret"),
    ]
    with running_engine(
        tmp_path_factory.mktemp("engine"), nats_url=nats_url, redis_url=redis_url, config=config
    ) as e:
        yield e


@pytest.fixture(scope="module")
def arcade(engine) -> Arcade:
    return Arcade(base_url=engine.base_url, api_key=engine.api_key, max_retries=0)


def location(response: httpx.Response) -> httpx.URL:
    assert response.status_code == 303, response.text
    return response.url.join(response.headers["location"])


async def consent_until_sign_in(engine: Engine, user: str) -> tuple[dict, httpx.URL]:
    """Start for ``user``, consent at the third party; the engine sends the browser to the
    verification step, which sends it on to the platform's sign-in."""
    pending = await start(engine, user, provider="basic", scopes=SCOPES)
    callback = await callback_url(engine, pending["url"], login=user)
    verify = location(await deliver(callback, follow=False))
    assert verify.path == VERIFY_PATH
    return pending, location(await deliver(verify, follow=False))


async def sign_in_as(engine: Engine, sign_in: httpx.URL, login: str) -> httpx.URL:
    """Sign in at the platform's provider; stop at the engine's verification callback."""
    return await consent(sign_in, login=login, stop_at_prefix=f"{engine.base_url}{VERIFY_CALLBACK_PATH}")


class TestOidcVerification:
    async def test_the_sign_in_goes_to_the_platform_provider_with_state_nonce_and_pkce(self, engine, oauth):
        _, sign_in = await consent_until_sign_in(engine, new_user("params"))
        assert str(sign_in).startswith(oauth.authorize_endpoint)
        params = sign_in.params
        assert params["client_id"] == "platform" and params["response_type"] == "code"
        assert params["redirect_uri"] == f"{engine.base_url}{VERIFY_CALLBACK_PATH}"
        assert params["code_challenge_method"] == "S256" and params["code_challenge"]
        assert params["state"] and params["nonce"] and params["scope"] == "openid"

    async def test_the_flows_own_user_signing_in_completes_it_and_stores_the_token(self, engine, arcade):
        user = new_user("alice")
        pending, sign_in = await consent_until_sign_in(engine, user)
        assert (await status(engine, pending["id"])).json()["status"] == "pending"
        page = await deliver(await sign_in_as(engine, sign_in, user))
        assert page.status_code == 200 and "complete" in page.text.lower()
        done = (await status(engine, pending["id"])).json()
        assert done["status"] == "completed" and done["context"]["token"]
        connections = await asyncio.to_thread(
            lambda: list(arcade.admin.user_connections.list(user={"id": user}))
        )
        assert [c.user_id for c in connections] == [user]

    async def test_another_user_signing_in_fails_the_flow_with_user_mismatch_and_stores_nothing(
        self, engine, arcade
    ):
        mallory, alice = new_user("mallory"), new_user("alice")
        # Mallory started the flow for herself and sent the link to Alice, who consents and signs in.
        pending, sign_in = await consent_until_sign_in(engine, mallory)
        page = await deliver(await sign_in_as(engine, sign_in, alice))
        assert page.status_code == 400 and "not the user" in page.text
        failed = (await status(engine, pending["id"], extras=True)).json()
        assert failed["status"] == "failed" and failed["failure_reason"] == "user_mismatch"
        for user in (mallory, alice):
            connections = await asyncio.to_thread(
                lambda u=user: list(arcade.admin.user_connections.list(user={"id": u}))
            )
            assert connections == []

    async def test_a_forged_sign_in_code_is_refused_and_the_flow_keeps_waiting(self, engine):
        user = new_user("forged")
        pending, sign_in = await consent_until_sign_in(engine, user)
        forged = httpx.URL(f"{engine.base_url}{VERIFY_CALLBACK_PATH}").copy_merge_params(
            {"state": sign_in.params["state"], "code": "not-a-code"}
        )
        refused = await deliver(forged)
        assert refused.status_code == 400 and "could not be checked" in refused.text
        assert (await status(engine, pending["id"])).json()["status"] == "pending"
        page = await deliver(await sign_in_as(engine, sign_in, user))
        assert page.status_code == 200
        assert (await status(engine, pending["id"])).json()["status"] == "completed"

    async def test_an_unknown_state_at_the_verification_callback_is_refused(self, engine):
        response = await deliver(f"{engine.base_url}{VERIFY_CALLBACK_PATH}?state=nope&code=x")
        assert response.status_code == 400 and "does not belong" in response.text
