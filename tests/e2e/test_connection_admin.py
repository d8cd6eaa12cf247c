"""User connections through arcadepy and the admin API: read one, force its refresh, and delete it
with the grant revoked at the real OAuth server (oidc-provider's RFC 7009 endpoint).

Three providers at the same server: ``hooli`` with the revocation endpoint, ``plain`` without one,
and ``refusing``, whose revocation request the server refuses (no client authentication).
The ``connection.revoked`` event is read where its consumers read it: a webhook delivery.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from arcadepy import AsyncArcade, NotFoundError
from redis.asyncio import Redis

from shared.runtime.crypto import Cipher, RootKey
from shared.tokens.model import RefreshPolicy, StoredToken
from shared.tokens.store import TokenStore
from tests.e2e.webhook_support import Receiver, RunningReceiver, endpoint, until
from tests.support.auth_flows import new_user
from tests.support.browser import consent_and_follow
from tests.support.client_stack import HOOLI_SCOPES, hooli_engine, userinfo
from tests.support.engine import Engine
from tests.support.oauth_server import OAuthServer

pytestmark = pytest.mark.e2e

HOOK = "/revoked"


def with_revocation(receiver: Receiver) -> Any:
    def tweak(config: dict[str, Any]) -> None:
        hooli = config["auth"]["providers"][0]
        revocation = hooli["oauth2"]["token_request"]["endpoint"] + "/revocation"
        plain = copy.deepcopy(hooli) | {"id": "plain"}
        hooli["oauth2"]["token_revocation_request"] = {
            "endpoint": revocation,
            "auth_method": "client_secret_basic",
        }
        refusing = copy.deepcopy(hooli) | {"id": "refusing"}
        refusing["oauth2"]["token_revocation_request"]["auth_method"] = "none"
        config["auth"]["providers"] += [plain, refusing]
        hook = endpoint("revoked", receiver.url(HOOK), ["connection.revoked"])
        config["webhooks"] = {"endpoints": [hook], "allow_private_targets": True}

    return tweak


@pytest.fixture(scope="module")
def stack(tmp_path_factory, nats_url, redis_url) -> Iterator[tuple[Engine, OAuthServer, Receiver]]:
    receiver = Receiver()
    home = tmp_path_factory.mktemp("connections")
    with (
        RunningReceiver(receiver),
        hooli_engine(home, nats_url=nats_url, redis_url=redis_url, tweak=with_revocation(receiver)) as (e, o),
    ):
        yield e, o, receiver


@pytest.fixture
def client(stack) -> AsyncArcade:
    return AsyncArcade(base_url=stack[0].base_url, api_key=stack[0].api_key, max_retries=0)


async def connect(client: AsyncArcade, engine: Engine, provider: str) -> tuple[str, str]:
    """A user who consented at ``provider``: their id and connection id."""
    user = new_user(provider)
    pending = await client.auth.start(user_id=user, provider=provider, scopes=HOOLI_SCOPES)
    await consent_and_follow(pending.url or "", login=user, callback_prefix=engine.redirect_uri)
    await client.auth.wait_for_completion(pending)
    page = await client.admin.user_connections.list(user={"id": user}, provider={"id": provider})
    [connection] = page.items
    return user, connection.id or ""


async def stored(engine: Engine, redis_url: str, user: str, provider: str) -> StoredToken:
    """The token as the engine keeps it (decrypted with its root key): the test needs the refresh token."""
    redis = Redis.from_url(redis_url)
    [root] = engine.config["security"]["root_keys"]
    cipher = Cipher([RootKey(root["id"], root["value"], True)])
    store = TokenStore(redis, cipher, RefreshPolicy(), prefix=engine.env["VALETKEY_KEY_PREFIX"])
    try:
        token = await store.get(user, provider)
    finally:
        await redis.aclose()
    assert token is not None and token.refresh_token
    return token


def refresh_at_provider(oauth: OAuthServer, refresh_token: str) -> httpx.Response:
    body = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return httpx.post(oauth.token_endpoint, data=body, auth=("valetkey-hooli", "hs"), trust_env=False)


async def revoked_event(receiver: Receiver, connection_id: str) -> dict[str, Any]:
    def bodies() -> list[dict[str, Any]]:
        return [json.loads(r.body)["data"] for r in receiver.on(HOOK)]

    await until(lambda: any(b["connection_id"] == connection_id for b in bodies()), what="connection.revoked")
    [data] = [b for b in bodies() if b["connection_id"] == connection_id]
    return data


class TestDeleteRevokesAtTheProvider:
    async def test_the_grant_is_dead_at_the_provider_and_the_event_says_revoked(
        self, stack, client, redis_url
    ):
        engine, oauth, receiver = stack
        user, connection_id = await connect(client, engine, "hooli")
        token = await stored(engine, redis_url, user, "hooli")
        assert (await asyncio.to_thread(userinfo, oauth, token.access_token)).status_code == 200
        grants_revoked = oauth.stats().grants_revoked

        await client.admin.user_connections.delete(connection_id)

        assert (await asyncio.to_thread(userinfo, oauth, token.access_token)).status_code == 401
        refused = await asyncio.to_thread(refresh_at_provider, oauth, token.refresh_token or "")
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        assert oauth.stats().grants_revoked == grants_revoked + 1
        data = await revoked_event(receiver, connection_id)
        assert data == {
            "user_id": user,
            "provider_id": "hooli",
            "connection_id": connection_id,
            "status": "revoked",
            "provider_revocation": "revoked",
        }
        with pytest.raises(NotFoundError):
            await client.get(f"/v1/admin/user_connections/{connection_id}", cast_to=object)

    async def test_a_provider_without_a_revocation_endpoint_is_not_supported_and_the_grant_lives(
        self, stack, client, redis_url
    ):
        engine, oauth, receiver = stack
        user, connection_id = await connect(client, engine, "plain")
        token = await stored(engine, redis_url, user, "plain")
        await client.admin.user_connections.delete(connection_id)
        data = await revoked_event(receiver, connection_id)
        assert data["provider_revocation"] == "not_supported"
        assert data["provider_revocation_reason"] == "provider plain has no revocation endpoint"
        assert (await asyncio.to_thread(userinfo, oauth, token.access_token)).status_code == 200
        page = await client.admin.user_connections.list(user={"id": user})
        assert page.items == []

    async def test_a_refused_revocation_still_deletes_and_the_event_says_why(self, stack, client, redis_url):
        engine, oauth, receiver = stack
        user, connection_id = await connect(client, engine, "refusing")
        token = await stored(engine, redis_url, user, "refusing")
        await client.admin.user_connections.delete(connection_id)
        data = await revoked_event(receiver, connection_id)
        assert data["provider_revocation"] == "failed"
        reason = data["provider_revocation_reason"]
        assert reason.startswith("revoking the refresh token: ") and "client authentication" in reason, reason
        assert (await asyncio.to_thread(userinfo, oauth, token.access_token)).status_code == 200
        assert (await client.admin.user_connections.list(user={"id": user})).items == []


class TestOneConnection:
    async def test_get_answers_the_lists_shape(self, stack, client):
        user, connection_id = await connect(client, stack[0], "hooli")
        one = await client.get(f"/v1/admin/user_connections/{connection_id}", cast_to=object)
        [listed] = (await client.admin.user_connections.list(user={"id": user})).items
        assert one == listed.to_dict(mode="json")
        assert (one["user_id"], one["provider_id"], one["connection_status"]) == (user, "hooli", "active")

    async def test_a_forced_refresh_replaces_a_still_valid_token(self, stack, client, redis_url):
        engine, oauth, _ = stack
        user, connection_id = await connect(client, engine, "hooli")
        before = await stored(engine, redis_url, user, "hooli")
        answer = await client.post(f"/v1/admin/user_connections/{connection_id}/refresh", cast_to=object)
        after = await stored(engine, redis_url, user, "hooli")
        assert answer["status"] == "refreshed" and answer["connection"]["id"] == connection_id
        assert after.access_token != before.access_token and after.refresh_token != before.refresh_token
        assert (await asyncio.to_thread(userinfo, oauth, after.access_token)).status_code == 200

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("get", "/v1/admin/user_connections/conn_nope"),
            ("post", "/v1/admin/user_connections/conn_nope/refresh"),
            ("delete", "/v1/admin/user_connections/conn_nope"),
        ],
    )
    def test_an_unknown_connection_is_404_in_the_error_shape(self, stack, method, path):
        engine = stack[0]
        response = httpx.request(method, f"{engine.base_url}{path}", headers=engine.headers, trust_env=False)
        assert response.status_code == 404 and response.json()["name"] == "not_found"
