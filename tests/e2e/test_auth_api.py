"""The auth API around a flow: user verification (confirm_user, built-in verifier) and the admin API.

One OAuth server and one engine (verification ``builtin``, so in development mode) serve the module. The admin
API is driven through arcadepy, as users would.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from typing import Any

import arcadepy
import httpx
import nats
import pytest
from arcadepy import Arcade

from shared.bus.flushing import reach_server
from tests.support.auth_flows import callback_url, deliver, new_user, start, status
from tests.support.browser import _PageParser
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
    redirect = [f"http://127.0.0.1:{port}/oauth/callback"]
    clients = [OAuthClient("basic-app", redirect, client_secret="basic-secret")]
    with start_oauth_server(tmp_path_factory.mktemp("oauth"), clients=clients) as server:
        yield server


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url, oauth, port) -> Iterator[Engine]:
    config = base_config(port, secrets.token_urlsafe(32))
    config["api"]["development"] = True  # the built-in verifier is refused outside development
    config["auth"]["verification"] = {"mode": "builtin"}
    config["auth"]["next_uri_origins"] = ["https://app.example"]
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


async def consent_until_verifier(engine: Engine, user: str, **extra: Any) -> tuple[dict, httpx.Response]:
    """Start, consent, deliver the callback: the engine answers with a 303 to the verifier."""
    pending = await start(engine, user, provider="basic", scopes=SCOPES, **extra)
    callback = await callback_url(engine, pending["url"], login=user)
    return pending, await deliver(callback, follow=False)


def flow_id_of(redirect: httpx.Response) -> str:
    assert redirect.status_code == 303, redirect.text
    location = httpx.URL(redirect.headers["location"])
    assert location.path == "/oauth/verify"
    return location.params["flow_id"]


async def confirm(engine: Engine, flow_id: str, user_id: str) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.post(
            f"{engine.base_url}/v1/auth/confirm_user",
            headers=engine.headers,
            json={"flow_id": flow_id, "user_id": user_id},
        )


class TestConfirmUser:
    async def test_the_matching_user_completes_the_authorization(self, engine, arcade):
        user = new_user("match")
        pending, redirect = await consent_until_verifier(engine, user, next_uri="https://app.example/next")
        assert (await status(engine, pending["id"])).json()["status"] == "pending"
        result = await asyncio.to_thread(arcade.auth.confirm_user, flow_id=flow_id_of(redirect), user_id=user)
        assert result.auth_id == pending["id"] and result.next_uri == "https://app.example/next"
        done = arcade.auth.wait_for_completion(result.auth_id)
        assert done.status == "completed" and done.context.token

    async def test_a_reload_of_the_callback_leads_back_to_the_same_verification_until_it_is_confirmed(
        self, engine
    ):
        user = new_user("reload")
        pending = await start(engine, user, provider="basic", scopes=SCOPES)
        callback = await callback_url(engine, pending["url"], login=user)
        first, reload = await asyncio.gather(deliver(callback, follow=False), deliver(callback, follow=False))
        assert flow_id_of(reload) == flow_id_of(first)
        assert (await confirm(engine, flow_id_of(first), user)).status_code == 200
        again = await deliver(callback)
        assert again.status_code == 200 and "complete" in again.text.lower()
        assert (await status(engine, pending["id"])).json()["status"] == "completed"

    async def test_a_second_confirmation_answers_like_the_first(self, engine):
        user = new_user("twice")
        pending, redirect = await consent_until_verifier(engine, user)
        both = await asyncio.gather(*(confirm(engine, flow_id_of(redirect), user) for _ in range(2)))
        assert [(r.status_code, r.json()) for r in both] == [(200, {"auth_id": pending["id"]})] * 2

    async def test_a_different_user_is_refused_and_nothing_is_stored_for_anyone(self, engine, arcade):
        victim, attacker = new_user("victim"), new_user("attacker")
        pending, redirect = await consent_until_verifier(engine, attacker)
        flow_id = flow_id_of(redirect)
        refused = await confirm(engine, flow_id, victim)
        assert refused.status_code == 400 and refused.json()["name"] == "user_mismatch"
        failed = (await status(engine, pending["id"], extras=True)).json()
        assert failed["status"] == "failed" and failed["failure_reason"] == "user_mismatch"
        for user in (victim, attacker):
            assert list(arcade.admin.user_connections.list(user={"id": user})) == []
        # The flow is spent: even the right user cannot finish it now.
        assert (await confirm(engine, flow_id, attacker)).status_code == 404

    async def test_a_long_poll_across_the_confirmation_gets_the_token_and_the_confirmation_does_not(
        self, engine
    ):
        user = new_user("handover")
        pending, redirect = await consent_until_verifier(engine, user)
        waiter = asyncio.create_task(status(engine, pending["id"], wait=30))
        await asyncio.sleep(0.2)  # the long-poll is waiting before the app confirms
        confirmed = await confirm(engine, flow_id_of(redirect), user)
        assert confirmed.status_code == 200 and confirmed.json() == {"auth_id": pending["id"]}
        done = (await asyncio.wait_for(waiter, 30)).json()
        assert done["status"] == "completed" and done["context"]["token"]
        assert done["id"] == pending["id"] and done["user_id"] == user

    async def test_an_unknown_flow_is_404(self, engine):
        response = await confirm(engine, "no-such-flow", "someone")
        assert response.status_code == 404 and response.json()["name"] == "not_found"


class TestBuiltInVerifier:
    async def test_the_page_names_the_user_and_its_button_completes_the_flow(self, engine):
        user = new_user("builtin")
        pending, redirect = await consent_until_verifier(engine, user)
        async with httpx.AsyncClient(trust_env=False, base_url=engine.base_url) as browser:
            page = await browser.get(redirect.headers["location"])
            assert page.status_code == 200 and user in page.text and "development" in page.text
            assert page.headers["referrer-policy"] == "no-referrer"
            parser = _PageParser()
            parser.feed(page.text)
            form = parser.forms[0]
            done = await browser.post(form.action, data=form.fields)
        assert done.status_code == 200 and "complete" in done.text.lower()
        assert (await status(engine, pending["id"])).json()["status"] == "completed"


def admin_body(entry: dict[str, Any]) -> dict[str, Any]:
    """An engine.yaml entry in the admin API's shape (credentials inside oauth2, ``refresh_request``)."""
    oauth2 = dict(entry["oauth2"])
    oauth2["client_id"] = entry["client_id"]
    oauth2["client_secret"] = entry["client_secret"]
    oauth2["refresh_request"] = oauth2.pop("refresh_token_request")
    return {
        "id": entry["id"],
        "description": "runtime",
        "type": "oauth2",
        "status": "active",
        "oauth2": oauth2,
    }


class TestAdminAuthProviders:
    def test_a_created_provider_is_listed_shown_safely_and_usable_at_once(self, engine, oauth, arcade):
        body = admin_body(
            oidc_provider_entry(
                oauth, id="runtime-a", client_id="basic-app", client_secret="basic-secret-xyz1"
            )
        )
        created = arcade.admin.auth_providers.with_raw_response.create(**body)
        assert created.status_code == 201
        view = created.parse()
        assert view.id == "runtime-a" and view.status == "active"
        assert view.oauth2.redirect_uri == engine.redirect_uri
        assert view.oauth2.client_secret.exists is True and view.oauth2.client_secret.value is None
        assert "basic-secret-xyz1" not in created.http_response.text
        assert "runtime-a" in [p.id for p in arcade.admin.auth_providers.list().items]
        pending = arcade.auth.start(user_id=new_user("rt"), provider="runtime-a", scopes=SCOPES)
        assert pending.status == "pending" and pending.url.startswith(oauth.authorize_endpoint)

    def test_a_patch_may_rename_and_a_delete_returns_the_deleted_object(self, engine, oauth, arcade):
        entry = oidc_provider_entry(oauth, id="runtime-b", client_id="basic-app", client_secret="s")
        arcade.admin.auth_providers.create(**admin_body(entry))
        renamed = arcade.admin.auth_providers.patch(
            path_id="runtime-b", body_id="runtime-c", description="new"
        )
        assert (renamed.id, renamed.description) == ("runtime-c", "new")
        with pytest.raises(arcadepy.NotFoundError):
            arcade.admin.auth_providers.get("runtime-b")
        deleted = arcade.admin.auth_providers.delete("runtime-c")
        assert deleted.id == "runtime-c"
        with pytest.raises(arcadepy.NotFoundError):
            arcade.admin.auth_providers.get("runtime-c")

    def test_configured_providers_are_listed_but_read_only(self, arcade):
        assert arcade.admin.auth_providers.get("basic").oauth2.client_id == "basic-app"
        with pytest.raises(arcadepy.ConflictError):
            arcade.admin.auth_providers.delete("basic")

    def test_an_unknown_incomplete_duplicate_unauthenticated_or_malformed_request_gets_its_error(
        self, engine, arcade
    ):
        with pytest.raises(arcadepy.NotFoundError):
            arcade.admin.auth_providers.get("nope")
        with pytest.raises(arcadepy.BadRequestError) as bad:
            arcade.admin.auth_providers.create(id="broken", oauth2={"client_id": "c"})
        assert "authorize_request" in bad.value.body["message"]
        arcade.admin.auth_providers.create(**admin_body(_minimal("dup")))
        with pytest.raises(arcadepy.ConflictError):
            arcade.admin.auth_providers.create(**admin_body(_minimal("dup")))
        wrong = Arcade(base_url=engine.base_url, api_key="wrong-key", max_retries=0)
        with pytest.raises(arcadepy.AuthenticationError):
            wrong.admin.auth_providers.list()
        raw = httpx.post(
            f"{engine.base_url}/v1/admin/auth_providers",
            headers=engine.headers,
            content=b"[1]",
            trust_env=False,
        )
        assert raw.status_code == 400 and raw.json()["name"] == "malformed_request"


def _minimal(provider_id: str) -> dict[str, Any]:
    return {
        "id": provider_id,
        "client_id": "c",
        "client_secret": "s",
        "oauth2": {
            "authorize_request": {"endpoint": "https://idp.example/authorize"},
            "token_request": {"endpoint": "https://idp.example/token"},
            "refresh_token_request": {"endpoint": "https://idp.example/token"},
        },
    }


class TestAdminUserConnections:
    async def test_all_three_filter_spellings_find_the_connection_and_delete_revokes_it(
        self, engine, nats_url, arcade
    ):
        user = new_user("conn")
        _, redirect = await consent_until_verifier(engine, user)
        assert (await confirm(engine, flow_id_of(redirect), user)).status_code == 200
        listed = arcade.admin.user_connections.list(user={"id": user}, provider={"id": "basic"})
        [connection] = list(listed)
        assert (connection.user_id, connection.provider_id, connection.connection_status) == (
            user,
            "basic",
            "active",
        )
        assert connection.provider_user_info["sub"] == user
        for params in ({"user.id": user, "provider.id": "basic"}, {"user_id": user, "provider_id": "basic"}):
            response = await asyncio.to_thread(
                httpx.get,
                f"{engine.base_url}/v1/admin/user_connections",
                headers=engine.headers,
                params=params,
                trust_env=False,
            )
            assert [c["id"] for c in response.json()["items"]] == [connection.id]

        events = await nats.connect(nats_url)
        revoked = await events.subscribe("vk.events.connection.revoked")
        await reach_server(events)  # the subscription must reach the server before the event is published
        try:
            response = await asyncio.to_thread(
                arcade.admin.user_connections.with_raw_response.delete, connection.id
            )
            assert response.status_code == 204
            message = await revoked.next_msg(timeout=5)
        finally:
            await events.close()
        assert json.loads(message.data)["connection_id"] == connection.id
        assert list(arcade.admin.user_connections.list(user={"id": user})) == []
        again = arcade.auth.start(user_id=user, provider="basic", scopes=SCOPES)
        assert again.status == "pending"

    def test_deleting_an_unknown_connection_is_404(self, arcade):
        with pytest.raises(arcadepy.NotFoundError):
            arcade.admin.user_connections.delete("uc_unknown")
