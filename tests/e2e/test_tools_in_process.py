"""Tools in the executor process, through the real engine, arcadepy and HTTP.

One engine for the module: hooli (seed 002's custom toolkit) plus the published
arcade-github and arcade-gmail toolkits in process; the ``hooli`` provider is the real
OAuth server, ``github`` and ``google`` are built-ins whose tokens the tests store
directly (their upstream APIs are the local fakes).
"""

import json
import secrets
from datetime import UTC, datetime, timedelta

import httpx
import nats
import pytest
from arcadepy import (
    Arcade,
    AsyncArcade,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from redis.asyncio import Redis

from shared.bus import subjects
from shared.bus.flushing import reach_server
from shared.runtime.crypto import Cipher, RootKey
from shared.tokens.model import RefreshPolicy, StoredToken
from shared.tokens.store import TokenStore
from tests.support.browser import consent_and_follow
from tests.support.engine import base_config, running_engine
from tests.support.fake_upstreams import FakeUpstreams
from tests.support.oauth_server import OAuthClient, start_oauth_server
from tests.support.providers import oidc_provider_entry
from tests.support.toolkits.hooli.tools import fingerprint
from tools.launcher import embedded

pytestmark = pytest.mark.e2e

EXTRAS = {"Valetkey-Extras": "true"}

HOOLI = "tests.support.toolkits.hooli"
TOOL_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def fake():
    with FakeUpstreams(messages=["m1", "m2"]) as upstreams:
        yield upstreams


def hooli_provider(oauth, client):
    """Seed 002's custom provider at the real OAuth server; ``openid`` too, which its userinfo requires."""
    entry = oidc_provider_entry(
        oauth, id="hooli", client_id=client.client_id, client_secret=client.client_secret
    )
    entry["oauth2"]["authorize_request"]["params"]["scope"] = "openid {{scopes}} {{existing_scopes}}"
    return entry


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url, fake):
    home = tmp_path_factory.mktemp("tools-engine")
    port, root_key = embedded.free_port(), secrets.token_urlsafe(32)
    redirect = f"http://127.0.0.1:{port}/oauth/callback"
    client = OAuthClient("valetkey-hooli", [redirect], client_secret="hooli-secret")
    with start_oauth_server(home, clients=[client]) as oauth:
        config = base_config(port, root_key)
        config["auth"]["providers"] = [
            hooli_provider(oauth, client),
            {"id": "github", "provider_id": "github", "client_id": "gh-app", "client_secret": "gh-secret"},
            {"id": "google", "provider_id": "google", "client_id": "g-app", "client_secret": "g-secret"},
        ]
        config["tools"] = {
            "toolkits": [HOOLI, "arcade_github", "arcade_gmail"],
            "secrets": {"GITHUB_SERVER_URL": fake.github_url},
            "timeout_seconds": TOOL_TIMEOUT_S,
            "directors": [],
        }
        with running_engine(
            home, nats_url=nats_url, redis_url=redis_url, config=config, extra_env=fake.gmail_env()
        ) as running:
            running.root_key = root_key
            yield running


@pytest.fixture
def http(engine):
    with httpx.Client(base_url=engine.base_url, headers=engine.headers, timeout=30) as client:
        yield client


@pytest.fixture
def arcade(engine):
    return Arcade(base_url=engine.base_url, api_key=engine.api_key)


@pytest.fixture
def async_arcade(engine):
    return AsyncArcade(base_url=engine.base_url, api_key=engine.api_key)


async def store_token(engine, redis_url, user_id, provider_id, access_token, scopes):
    """Put a token where the authorizer would have, encrypted under the engine's root key."""
    redis = Redis.from_url(redis_url)
    store = TokenStore(
        redis,
        Cipher([RootKey("k1", engine.root_key, True)]),
        RefreshPolicy(),
        prefix=engine.env["VALETKEY_KEY_PREFIX"],
    )
    now = datetime.now(UTC)
    token = StoredToken(
        access_token=access_token, issued_at=now, expires_at=now + timedelta(hours=1), scopes=scopes
    )
    await store.put(user_id, provider_id, token)
    await redis.aclose()


def new_user() -> str:
    return f"user-{secrets.token_hex(4)}@example.com"


class TestListingTools:
    def test_hooli_github_and_gmail_tools_are_listed_by_toolkit_case_insensitively(self, arcade):
        hooli = {t.name for t in arcade.tools.list(toolkit="hooli")}
        assert hooli == {
            "ReticulateSplines",
            "ReadApiKeyFingerprint",
            "Explode",
            "Flaky",
            "Nap",
            "NapSync",
            "Ping",
        }
        github = [t.qualified_name for t in arcade.tools.list(toolkit="GITHUB")]
        assert "Github.SetStarred" in github and len(github) > 25  # auto-pagination went past page one
        assert "Gmail.ListEmails" in {t.qualified_name for t in arcade.tools.list(toolkit="gmail")}

    def test_a_page_carries_arcades_offset_fields(self, http):
        body = http.get("/v1/tools", params={"toolkit": "Hooli", "limit": 2, "offset": 2}).json()
        assert [t["name"] for t in body["items"]] == ["Nap", "NapSync"]
        assert (body["limit"], body["offset"], body["page_count"], body["total_count"]) == (2, 2, 2, 7)

    def test_a_limit_above_100_is_clamped(self, http):
        body = http.get("/v1/tools", params={"limit": 500}).json()
        assert body["limit"] == 100
        assert body["page_count"] == body["total_count"] == 67  # hooli 7, github and gmail 60

    def test_a_definition_has_the_engine_shape_and_requirements_for_the_user(self, arcade):
        tool = arcade.tools.get("Hooli_ReticulateSplines", user_id=new_user())
        assert tool.fully_qualified_name == "Hooli.ReticulateSplines@1.0.0"
        auth = tool.requirements.authorization
        assert (auth.id, auth.status, auth.token_status) == ("hooli", "active", "not_started")
        assert tool.requirements.met is False
        assert arcade.tools.get("Hooli.Ping").requirements.authorization is None

    def test_include_format_adds_openai_and_anthropic_schemas(self, http):
        body = http.get("/v1/tools/Hooli.Nap", params={"include_format": "openai,anthropic"}).json()
        assert body["formatted_schema"]["openai"]["function"]["name"] == "Hooli_Nap"
        assert body["formatted_schema"]["anthropic"]["input_schema"]["required"] == ["seconds"]

    def test_formatted_tools_answer_openai_by_default_and_anthropic_on_request(self, arcade):
        openai = list(arcade.tools.formatted.list(toolkit="hooli"))
        assert {t["function"]["name"] for t in openai} >= {"Hooli_Ping", "Hooli_ReticulateSplines"}
        anthropic = arcade.tools.formatted.get("Github.SetStarred", format="anthropic")
        assert anthropic["name"] == "Github_SetStarred"
        assert set(anthropic["input_schema"]["required"]) >= {"owner", "name"}

    def test_an_unknown_format_is_a_bad_request(self, http):
        response = http.get("/v1/formatted_tools", params={"format": "cobol"})
        assert response.status_code == 400 and response.json()["name"] == "malformed_request"


class TestToolNames:
    @pytest.mark.parametrize("name", ["Hooli.Ping", "Hooli_Ping", "hooli.ping", "Hooli.Ping@1.0.0"])
    def test_every_spelling_of_a_name_runs_the_tool(self, arcade, name):
        assert arcade.tools.execute(tool_name=name).output.value == "pong"

    def test_an_unknown_tool_is_404(self, arcade):
        with pytest.raises(NotFoundError) as error:
            arcade.tools.execute(tool_name="Hooli.Nope")
        assert error.value.body["name"] == "not_found"

    def test_an_unknown_version_is_404(self, http):
        response = http.post("/v1/tools/execute", json={"tool_name": "Hooli.Ping", "tool_version": "9.9.9"})
        assert response.status_code == 404

    def test_an_unparseable_name_is_400(self, arcade):
        with pytest.raises(BadRequestError) as error:
            arcade.tools.get("NoSeparatorHere")
        assert error.value.body == {
            "name": "malformed_request",
            "message": "failed to parse tool name NoSeparatorHere",
        }

    def test_a_wrong_api_key_is_401(self, engine):
        with pytest.raises(AuthenticationError):
            Arcade(base_url=engine.base_url, api_key="wrong", max_retries=0).tools.list()


class TestToolFailures:
    def test_an_exception_is_a_failed_execution_without_the_stacktrace(self, arcade):
        result = arcade.tools.execute(
            tool_name="Hooli.Explode", input={"reason": "kaboom"}, extra_headers=EXTRAS
        )
        assert (result.success, result.status) == (False, "failed")
        assert result.output.error.kind == "TOOL_RUNTIME_FATAL"
        assert result.output.error.stacktrace is None
        assert result.tool_name == "Hooli.Explode"  # an extra (docs/arcade-compatibility.md §1.6)

    def test_the_stacktrace_comes_back_when_asked(self, arcade):
        result = arcade.tools.execute(
            tool_name="Hooli.Explode", input={"reason": "kaboom"}, include_error_stacktrace=True
        )
        assert "kaboom" in result.output.error.stacktrace

    def test_a_retryable_error_keeps_can_retry_and_its_hint(self, arcade):
        error = arcade.tools.execute(tool_name="Hooli.Flaky", input={"hint": "wait"}).output.error
        assert (error.kind, error.can_retry, error.additional_prompt_content) == (
            "TOOL_RUNTIME_RETRY",
            True,
            "wait",
        )

    @pytest.mark.parametrize("tool", ["Hooli.Nap", "Hooli.NapSync"])
    def test_a_slow_tool_times_out_and_the_executor_keeps_serving(self, arcade, tool):
        result = arcade.tools.execute(tool_name=tool, input={"seconds": TOOL_TIMEOUT_S + 3})
        assert result.output.error.kind == "NETWORK_TRANSPORT_RUNTIME_TIMEOUT"
        assert arcade.tools.execute(tool_name="Hooli.Ping").output.value == "pong"


class TestSecrets:
    def test_a_missing_secret_is_403_naming_it_then_an_admin_secret_satisfies_it(self, arcade, http):
        with pytest.raises(PermissionDeniedError) as error:
            arcade.tools.execute(tool_name="Hooli.ReadApiKeyFingerprint")
        assert error.value.body["name"] == "tool_requirements_not_met"
        assert error.value.body["message"] == "secret not found: HOOLI_API_KEY"

        created = http.post(
            "/v1/admin/secrets/HOOLI_API_KEY", json={"value": "k-123", "description": "d"}
        ).json()
        assert arcade.tools.execute(tool_name="Hooli.ReadApiKeyFingerprint").output.value == fingerprint(
            "k-123"
        )
        replaced = http.put("/v1/admin/secrets/HOOLI_API_KEY", json={"value": "k-456"}).json()
        assert replaced["id"] == created["id"]
        assert arcade.tools.execute(tool_name="Hooli.ReadApiKeyFingerprint").output.value == fingerprint(
            "k-456"
        )

        listed = {s.key: s for s in arcade.admin.secrets.list().items}
        assert listed["HOOLI_API_KEY"].id == created["id"]
        assert listed["GITHUB_SERVER_URL"].binding.type == "static"
        assert "k-456" not in http.get("/v1/admin/secrets").text

        arcade.admin.secrets.delete(created["id"])
        with pytest.raises(PermissionDeniedError):
            arcade.tools.execute(tool_name="Hooli.ReadApiKeyFingerprint")

    def test_deleting_an_unknown_secret_is_404_and_a_configured_one_409(self, http):
        assert http.delete("/v1/admin/secrets/sec_nope").status_code == 404
        response = http.delete("/v1/admin/secrets/sec_cfg_github_server_url")
        assert response.status_code == 409 and response.headers["x-should-retry"] == "false"


class TestPublishedToolkits:
    async def test_github_set_starred_runs_with_the_users_token(self, engine, redis_url, fake, arcade):
        user = new_user()
        await store_token(engine, redis_url, user, "github", "gho_user_token", [])
        result = arcade.tools.execute(
            tool_name="Github.SetStarred",
            input={"owner": "ArcadeAI", "name": "arcade-ai", "starred": True},
            user_id=user,
        )
        assert result.success is True, result.output.error
        assert ("PUT", "/user/starred/ArcadeAI/arcade-ai", "Bearer gho_user_token") in [
            (s.method, s.path, s.authorization) for s in fake.seen
        ]

    async def test_seed_003_gmail_list_emails_authorize_then_execute(self, engine, redis_url, fake, arcade):
        user_id = new_user()
        await store_token(
            engine,
            redis_url,
            user_id,
            "google",
            "ya29.user",
            ["https://www.googleapis.com/auth/gmail.readonly"],
        )
        # seed 003, unchanged but for the client's base URL and key
        auth_response = arcade.tools.authorize(tool_name="Gmail.ListEmails", user_id=user_id)
        assert auth_response.status == "completed"
        arcade.auth.wait_for_completion(auth_response)
        emails_response = arcade.tools.execute(tool_name="Gmail.ListEmails", user_id=user_id)
        assert emails_response.success is True, emails_response.output.error
        assert [e["id"] for e in emails_response.output.value["emails"]] == ["m1", "m2"]
        assert "Bearer ya29.user" in {s.authorization for s in fake.seen if s.host == "gmail.googleapis.com"}

    async def test_requirements_show_the_stored_token_as_met(self, engine, redis_url, arcade):
        user = new_user()
        await store_token(engine, redis_url, user, "github", "gho_other", [])
        tool = arcade.tools.get("Github.SetStarred", user_id=user)
        assert tool.requirements.met is True
        assert tool.requirements.authorization.token_status == "completed"
        assert tool.requirements.secrets[0].met is True


class TestAuthorizationRequiredThenGranted:
    async def test_reticulate_splines_needs_consent_then_runs_with_the_token_and_user_info(
        self, engine, async_arcade
    ):
        user = new_user()
        with pytest.raises(PermissionDeniedError) as error:
            await async_arcade.tools.execute(
                tool_name="Hooli.ReticulateSplines",
                input={"num_splines": 3},
                user_id=user,
                extra_headers=EXTRAS,  # the authorization inside the 403 (docs/arcade-compatibility.md §1.6)
            )
        body = error.value.body
        assert body["name"] == "tool_authorization_required"
        pending = body["output"]["authorization"]
        assert pending["status"] == "pending" and pending["url"] and pending["id"]

        await consent_and_follow(pending["url"], login="gavin", callback_prefix=engine.redirect_uri)
        completed = await async_arcade.auth.wait_for_completion(pending["id"])
        assert completed.status == "completed"

        result = await async_arcade.tools.execute(
            tool_name="Hooli.ReticulateSplines", input={"num_splines": 3}, user_id=user
        )
        assert result.success is True, result.output.error
        value = result.output.value
        assert (value["reticulated"], value["sub"], value["user_id"]) == (3, "gavin", user)
        assert value["token_sha256_prefix"] == fingerprint(completed.context.token)

        again = await async_arcade.tools.authorize(tool_name="Hooli_ReticulateSplines", user_id=user)
        assert again.status == "completed"

    async def test_tools_authorize_gives_a_url_for_a_new_user_and_completed_for_a_tool_without_auth(
        self, async_arcade
    ):
        pending = await async_arcade.tools.authorize(tool_name="Hooli.ReticulateSplines", user_id=new_user())
        assert pending.status == "pending" and pending.url and pending.id
        assert (await async_arcade.tools.authorize(tool_name="Hooli.Ping", user_id="u")).status == "completed"


class TestCompletionEvents:
    async def test_webhook_true_publishes_a_completion_event_without_any_token(self, engine, nats_url, http):
        nc = await nats.connect(nats_url)
        sub = await nc.subscribe(subjects.EVT_TOOL_EXECUTION_COMPLETED)
        await reach_server(nc)  # the subscription must reach the server before the event does
        try:
            body = http.post("/v1/tools/execute", json={"tool_name": "Hooli.Ping", "webhook": True}).json()
            while True:
                event = json.loads((await sub.next_msg(timeout=5)).data)
                if event["execution_id"] == body["execution_id"]:
                    break
        finally:
            await nc.close()
        assert (event["tool_name"], event["success"], event["status"]) == ("Hooli.Ping", True, "completed")
