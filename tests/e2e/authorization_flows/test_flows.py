"""A flow from start to consent to a token, as users and their clients run it.

The plain flow and its long-poll, the client authentication each provider is configured with,
incremental scopes, arcadepy's seed code and a built-in catalog provider, against the package's
engine and OAuth server (``conftest.py``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from queue import Queue

import httpx
import nats
import pytest
from arcadepy import Arcade

from shared.bus import subjects
from shared.bus.messaging import RpcClient
from shared.contracts.authorization import OAuthCallback
from tests.e2e.authorization_flows import SCOPES
from tests.support.auth_flows import approve, callback_url, deliver, new_user, start, status

pytestmark = pytest.mark.e2e


class TestPlainFlow:
    async def test_consent_completes_the_authorization_and_the_browser_sees_a_success_page(self, engine):
        user = new_user("plain")
        pending = await start(engine, user, provider="basic", scopes=SCOPES)
        assert pending["status"] == "pending" and pending["id"].startswith("ac_")
        assert pending["authorization_url"] == pending["url"]
        page = await approve(engine, pending["url"], login=user)
        assert page.status_code == 200 and "complete" in page.text.lower()
        assert page.headers["referrer-policy"] == "no-referrer"
        done = (await status(engine, pending["id"])).json()
        assert done["status"] == "completed"
        assert done["context"]["token"]
        assert set(done["scopes"]) >= set(SCOPES)
        assert done["context"]["token"] not in engine.all_logs()

    async def test_a_status_read_is_logged_once_and_its_token_never(self, engine):
        user = new_user("logged")
        pending = await start(engine, user, provider="basic", scopes=SCOPES)
        await approve(engine, pending["url"], login=user)
        done = (await status(engine, pending["id"])).json()
        reads: list[dict] = []
        for _ in range(100):  # the access line is written after the answer went out
            lines = engine.log_path("gateway").read_text().splitlines()
            reads = [json.loads(line) for line in lines if pending["id"] in line and "http.request" in line]
            if reads:
                break
            await asyncio.sleep(0.1)
        assert [(r["method"], r["path"], r["status"]) for r in reads] == [("GET", "/v1/auth/status", 200)]
        assert done["context"]["token"] not in "\n".join(lines)

    async def test_a_long_poll_is_woken_by_the_event_when_another_gateway_took_the_callback(
        self, engine, nats_url
    ):
        user = new_user("elsewhere")
        pending = await start(engine, user, provider="basic", scopes=SCOPES)
        callback = await callback_url(engine, pending["url"], login=user)
        waiter = asyncio.create_task(status(engine, pending["id"], wait=30))
        await asyncio.sleep(0.2)  # the long-poll waits on this engine's gateway
        other_gateway = await nats.connect(nats_url)
        try:  # a second gateway hands the callback to the authorizer: this one sees only the event
            query = dict(callback.params)
            request = OAuthCallback(state=query["state"], code=query["code"], iss=query.get("iss"))
            rpc = RpcClient(other_gateway, seal=engine.bus_seal(), timeout=30)
            reply = await rpc.call_raw(subjects.AUTH_CALLBACK, request)
        finally:
            await other_gateway.close()
        assert reply["status"] == "completed"
        # Well inside the 30 s wait: only the event can answer it this soon.
        done = (await asyncio.wait_for(waiter, 10)).json()
        assert done["status"] == "completed" and done["context"]["token"]

    async def test_the_authorize_url_carries_state_and_the_registered_redirect_uri(self, engine):
        pending = await start(engine, new_user("url"), provider="basic", scopes=SCOPES)
        params = httpx.URL(pending["url"]).params
        assert params["redirect_uri"] == engine.redirect_uri
        assert len(params["state"]) >= 40
        assert "code_challenge" not in params

    async def test_user_info_is_fetched_on_grant_and_returned_in_the_context(self, engine):
        user = new_user("info")
        pending = await start(engine, user, provider="basic", scopes=SCOPES)
        await approve(engine, pending["url"], login=user)
        done = (await status(engine, pending["id"])).json()
        assert done["context"]["user_info"]["sub"] == user

    async def test_a_second_start_is_completed_at_once_with_a_token_that_works_at_the_provider(
        self, engine, oauth
    ):
        user = new_user("again")
        first = await start(engine, user, provider="basic", scopes=SCOPES)
        await approve(engine, first["url"], login=user)
        second = await start(engine, user, provider="basic", scopes=["openid"])
        assert second["status"] == "completed" and "url" not in second
        assert second["context"]["user_info"]["sub"] == user
        me = await asyncio.to_thread(
            httpx.get,
            oauth.userinfo_endpoint,
            headers={"Authorization": f"Bearer {second['context']['token']}"},
            trust_env=False,
        )
        assert me.status_code == 200 and me.json()["sub"] == user

    async def test_a_completed_answer_without_a_flow_can_be_looked_up_and_ends_with_the_connection(
        self, engine
    ):
        """The id of an answer that needed no consent stands for the connection's current token."""
        user = new_user("view")
        first = await start(engine, user, provider="basic", scopes=SCOPES)
        await approve(engine, first["url"], login=user)
        second = await start(engine, user, provider="basic", scopes=["openid"])
        looked_up = (await status(engine, second["id"])).json()
        assert looked_up["status"] == "completed"
        assert looked_up["context"]["token"] == second["context"]["token"]
        connections = await asyncio.to_thread(
            httpx.get,
            f"{engine.base_url}/v1/admin/user_connections",
            params={"user_id": user},
            headers=engine.headers,
        )
        conn_id = connections.json()["items"][0]["id"]
        revoked = await asyncio.to_thread(
            httpx.delete, f"{engine.base_url}/v1/admin/user_connections/{conn_id}", headers=engine.headers
        )
        assert revoked.status_code == 204
        gone = await status(engine, second["id"])
        assert gone.status_code == 404
        assert gone.json()["name"] == "not_found"

    async def test_a_next_uri_on_an_origin_not_configured_is_refused_before_any_flow_starts(self, engine):
        response = await asyncio.to_thread(
            httpx.post,
            f"{engine.base_url}/v1/auth/authorize",
            headers=engine.headers,
            json={
                "user_id": new_user("elsewhere"),
                "auth_requirement": {"id": "basic", "oauth2": {"scopes": SCOPES}},
                "next_uri": "https://evil.example/phish",
            },
        )
        assert response.status_code == 400
        assert "auth.next_uri_origins" in response.json()["message"]

    async def test_next_uri_receives_the_browser_with_a_303(self, engine):
        user = new_user("next")
        pending = await start(
            engine, user, provider="basic", scopes=SCOPES, next_uri="https://app.example/done"
        )
        callback = await callback_url(engine, pending["url"], login=user)
        landed = await deliver(callback, follow=False)
        assert landed.status_code == 303
        assert landed.headers["location"] == "https://app.example/done"


class TestClientAuthentication:
    async def test_pkce_sends_an_s256_challenge_and_the_exchange_succeeds_for_a_public_client(self, engine):
        user = new_user("pkce")
        pending = await start(engine, user, provider="pkce", scopes=SCOPES)
        params = httpx.URL(pending["url"]).params
        assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
        await approve(engine, pending["url"], login=user)
        assert (await status(engine, pending["id"])).json()["status"] == "completed"

    @pytest.mark.parametrize(
        ("provider", "method"), [("basic", "client_secret_basic"), ("post", "client_secret_post")]
    )
    async def test_the_configured_client_authentication_reaches_the_token_endpoint(
        self, engine, oauth, provider, method
    ):
        user = new_user(provider)
        before = oauth.stats().token_auth_methods.get(method, 0)
        pending = await start(engine, user, provider=provider, scopes=SCOPES)
        await approve(engine, pending["url"], login=user)
        assert (await status(engine, pending["id"])).json()["status"] == "completed"
        assert oauth.stats().token_auth_methods.get(method, 0) == before + 1


class TestIncrementalScopes:
    async def test_more_scopes_start_a_flow_for_the_union_and_the_union_is_stored(self, engine):
        user = new_user("incr")
        first = await start(engine, user, provider="basic", scopes=["openid", "read"])
        await approve(engine, first["url"], login=user)
        second = await start(engine, user, provider="basic", scopes=["write"])
        assert second["status"] == "pending"
        assert set(httpx.URL(second["url"]).params["scope"].split()) == {"openid", "read", "write"}
        await approve(engine, second["url"], login=user)
        done = (await status(engine, second["id"])).json()
        assert set(done["scopes"]) == {"openid", "read", "write"}
        third = await start(engine, user, provider="basic", scopes=["read", "write"])
        assert third["status"] == "completed"


class TestLongPoll:
    """A wait asks for up to 59 s; an answer within ``ANSWER_DEADLINE_S`` cannot be the 59 s running out.
    That deadline only bounds a failure: no assertion measures how fast an answer came."""

    LONGEST_WAIT = 59
    ANSWER_DEADLINE_S = 30

    async def test_a_waiting_status_request_is_answered_when_the_consent_completes(self, engine):
        user = new_user("wait")
        pending = await start(engine, user, provider="basic", scopes=SCOPES)
        waiting = asyncio.create_task(status(engine, pending["id"], wait=self.LONGEST_WAIT))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        await approve(engine, pending["url"], login=user)
        response = await asyncio.wait_for(waiting, self.ANSWER_DEADLINE_S)
        assert response.json()["status"] == "completed" and response.json()["context"]["token"]

    async def test_a_wait_on_a_pending_authorization_answers_pending_at_the_deadline(self, engine):
        pending = await start(engine, new_user("deadline"), provider="basic", scopes=SCOPES)
        started = time.monotonic()
        response = await asyncio.wait_for(status(engine, pending["id"], wait=1), self.ANSWER_DEADLINE_S)
        assert response.json()["status"] == "pending"
        assert time.monotonic() - started >= 0.9  # it was held; a slow machine only lengthens this


class TestArcadeClient:
    async def test_seed_code_start_and_wait_for_completion_run_unchanged(self, engine, oauth):
        """Seed 001/004: ``auth.start`` → print the url → ``wait_for_completion`` → use the token."""
        user = new_user("arcadepy")
        urls: Queue[str] = Queue()
        result: dict[str, object] = {}

        def app_code() -> None:
            client = Arcade(base_url=engine.base_url, api_key=engine.api_key)
            auth_response = client.auth.start(user_id=user, provider="basic", scopes=SCOPES)
            if auth_response.status != "completed":
                urls.put(auth_response.authorization_url)  # seed 001 reads this name; 004 reads .url
            auth_response = client.auth.wait_for_completion(auth_response)
            result["response"] = auth_response

        thread = threading.Thread(target=app_code)
        thread.start()
        url = await asyncio.to_thread(urls.get, True, 15)
        await approve(engine, url, login=user)
        await asyncio.to_thread(thread.join, 30)
        response = result["response"]
        assert response.status == "completed"
        me = await asyncio.to_thread(
            httpx.get,
            oauth.userinfo_endpoint,
            headers={"Authorization": f"Bearer {response.context.token}"},
            trust_env=False,
        )
        assert me.json()["sub"] == user


class TestBuiltInCatalog:
    async def test_a_provider_enabled_by_id_alone_builds_googles_authorization_url(self, engine):
        scopes = ["https://www.googleapis.com/auth/gmail.readonly"]
        pending = await start(engine, new_user("google"), provider="google", scopes=scopes)
        url = httpx.URL(pending["url"])
        assert (url.host, url.path) == ("accounts.google.com", "/o/oauth2/v2/auth")
        assert url.params["client_id"] == "google-client-id"
        assert url.params["redirect_uri"] == engine.redirect_uri
        assert url.params["scope"] == scopes[0]
        assert url.params["access_type"] == "offline" and url.params["prompt"] == "consent"
        assert url.params["response_type"] == "code" and url.params["state"]
