"""How a flow fails and what the browser and the status answer then say.

Denied consent, a replayed callback, an expired or unknown state, a code the provider refuses,
an unknown id, and a stored token no root key opens (the user is asked again).
"""

from __future__ import annotations

import asyncio

import pytest
from redis import Redis

from shared.runtime.crypto import Cipher, RootKey
from shared.tokens.model import connection_id_of
from tests.e2e.authorization_flows import SCOPES
from tests.support.auth_flows import approve, callback_url, deliver, new_user, start, state_key, status
from tests.support.oauth_server import OAuthServer

pytestmark = pytest.mark.e2e


def token_requests(server: OAuthServer) -> int:
    return server.stats().token_requests.get("authorization_code", 0)


class TestFailures:
    async def test_access_denied_fails_the_authorization_and_shows_a_failure_page(self, engine, oauth):
        user = new_user("deny")
        before = token_requests(oauth)
        pending = await start(engine, user, provider="basic", scopes=SCOPES)
        page = await approve(engine, pending["url"], login=user, approve=False)
        assert page.status_code == 400 and "denied" in page.text.lower()
        failed = (await status(engine, pending["id"], extras=True)).json()
        assert failed["status"] == "failed" and failed["failure_reason"] == "access_denied"
        assert token_requests(oauth) == before

    async def test_a_replayed_callback_shows_the_outcome_without_a_second_code_exchange(self, engine, oauth):
        user = new_user("replay")
        pending = await start(engine, user, provider="basic", scopes=SCOPES)
        callback = await callback_url(engine, pending["url"], login=user)
        before = token_requests(oauth)
        assert (await deliver(callback)).status_code == 200
        replay = await deliver(callback)
        assert replay.status_code == 200 and "complete" in replay.text.lower()
        assert callback.params["code"] not in replay.text
        assert token_requests(oauth) == before + 1
        logs = engine.all_logs()
        assert callback.params["code"] not in logs and callback.params["state"] not in logs
        # The legitimate completion stands; the replay changes nothing.
        assert (await status(engine, pending["id"])).json()["status"] == "completed"

    async def test_an_expired_state_fails_the_authorization_without_an_exchange(
        self, engine, oauth, redis_url
    ):
        user = new_user("expired")
        pending = await start(engine, user, provider="basic", scopes=SCOPES)
        callback = await callback_url(engine, pending["url"], login=user)
        with Redis.from_url(redis_url) as redis:
            assert redis.pexpire(state_key(engine, callback.params["state"]), 1)
        await asyncio.sleep(0.05)
        before = token_requests(oauth)
        page = await deliver(callback)
        assert page.status_code == 400 and "expired" in page.text
        failed = (await status(engine, pending["id"], extras=True)).json()
        assert failed["status"] == "failed" and failed["failure_reason"] == "state_expired"
        assert token_requests(oauth) == before

    async def test_an_unknown_state_shows_a_failure_page(self, engine):
        page = await deliver(f"{engine.redirect_uri}?code=abc&state=never-issued")
        assert page.status_code == 400 and "does not belong" in page.text

    async def test_a_code_the_provider_refuses_fails_with_invalid_grant(self, engine, oauth):
        user = new_user("badcode")
        pending = await start(engine, user, provider="basic", scopes=SCOPES)
        callback = await callback_url(engine, pending["url"], login=user)
        page = await deliver(callback.copy_set_param("code", "not-a-real-code"))
        assert page.status_code == 400
        failed = (await status(engine, pending["id"], extras=True)).json()
        assert failed["status"] == "failed" and failed["failure_reason"] == "invalid_grant"
        assert "context" not in failed

    async def test_an_unknown_authorization_id_is_404(self, engine):
        response = await status(engine, "ac_does_not_exist")
        assert response.status_code == 404 and response.json()["name"] == "not_found"


class TestUnreadableToken:
    async def test_a_token_no_root_key_opens_asks_for_consent_again_and_the_new_grant_replaces_it(
        self, engine, redis_url
    ):
        """A record left under a dropped key, or damaged, is not a 500: the user authorizes again."""
        user = new_user("unreadable")
        first = await start(engine, user, provider="basic", scopes=SCOPES)
        await approve(engine, first["url"], login=user)
        stranger = Cipher([RootKey("dropped", "a-root-key-no-longer-configured")])
        token_key = f"{engine.env['VALETKEY_KEY_PREFIX']}:token:{connection_id_of(user, 'basic')}"
        with Redis.from_url(redis_url) as redis:
            redis.set(token_key, stranger.encrypt_json({"access_token": "x"}, aad=b"elsewhere"))

        again = await start(engine, user, provider="basic", scopes=SCOPES)
        assert again["status"] == "pending" and again["url"]
        await approve(engine, again["url"], login=user)

        done = (await status(engine, again["id"])).json()
        assert done["status"] == "completed" and done["context"]["token"]
        third = await start(engine, user, provider="basic", scopes=SCOPES)
        assert third["status"] == "completed"
        assert third["context"]["token"] == done["context"]["token"]
