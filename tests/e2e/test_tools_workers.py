"""Remote arcade-serve workers, from engine.yaml and from /v1/workers, through the real engine.

Both workers are ``tests.support.worker_app``: arcade-serve's own FastAPIWorker, started
from the published packages. The configured one hosts hooli, the one registered at
runtime hosts the published arcade-github toolkit; the vault workers show grants at work.
"""

import contextlib
import secrets
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from arcadepy import Arcade, BadRequestError, ConflictError, NotFoundError
from redis.asyncio import Redis

from shared.runtime.crypto import Cipher, RootKey
from shared.tokens.model import RefreshPolicy, StoredToken
from shared.tokens.store import TokenStore
from tests.support.engine import base_config, running_engine
from tests.support.fake_upstreams import FakeUpstreams
from tests.support.toolkits.vault.tools import fingerprint
from tests.support.worker_app import free_port, running_worker
from tools.launcher import embedded

pytestmark = pytest.mark.e2e

HOOLI_SECRET = "hooli-worker-secret-0123456789abcdef"
GITHUB_SECRET = "github-worker-secret-0123456789abcdef"
VAULT_SECRET = "vault-worker-secret-0123456789abcdef"
VAULT = "tests.support.toolkits.vault"
VAULT_SECRETS = {"VAULT_KEY": "vault-value", "PEEK_KEY": "peek-value", "EXTRA_KEY": "extra-value"}
WORKER_TIMEOUT_S = 2
# Grants and refused tools are valetkey's, beyond Arcade's WorkerResponse (docs/arcade-compatibility.md §1.6).
EXTRAS = {"Valetkey-Extras": "true"}


@pytest.fixture(scope="module")
def fake():
    with FakeUpstreams() as upstreams:
        yield upstreams


@pytest.fixture(scope="module")
def hooli_worker():
    with running_worker(HOOLI_SECRET) as url:
        yield url


@pytest.fixture(scope="module")
def github_worker():
    with running_worker(GITHUB_SECRET, toolkits=["arcade_github"]) as url:
        yield url


def http_worker(worker_id, uri, secret, timeout=WORKER_TIMEOUT_S, retry=1):
    return {"id": worker_id, "http": {"uri": uri, "secret": secret, "timeout": timeout, "retry": retry}}


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url, hooli_worker, fake):
    home = tmp_path_factory.mktemp("workers-engine")
    root_key = secrets.token_urlsafe(32)
    config = base_config(embedded.free_port(), root_key)
    config["auth"]["providers"] = [
        {"id": "github", "provider_id": "github", "client_id": "gh", "client_secret": "s"}
    ]
    config["tools"] = {
        "toolkits": [],
        "secrets": {"GITHUB_SERVER_URL": fake.github_url, **VAULT_SECRETS},
        "directors": [
            {
                "id": "default",
                "workers": [
                    http_worker("hooli-worker", hooli_worker, HOOLI_SECRET),
                    http_worker("misconfigured", hooli_worker, "not-the-secret-of-that-worker-0123456789"),
                ],
            }
        ],
    }
    with running_engine(home, nats_url=nats_url, redis_url=redis_url, config=config) as running:
        running.root_key = root_key
        yield running


@pytest.fixture
def arcade(engine):
    return Arcade(base_url=engine.base_url, api_key=engine.api_key, max_retries=0)


@pytest.fixture
def http(engine):
    with httpx.Client(base_url=engine.base_url, headers=engine.headers, timeout=30) as client:
        yield client


class TestAWorkerFromEngineYaml:
    def test_its_tools_are_listed_and_run_on_it(self, arcade):
        assert {t.name for t in arcade.tools.list(toolkit="hooli")} >= {"Ping", "Explode", "Nap"}
        assert arcade.tools.execute(tool_name="Hooli_Ping").output.value == "pong"

    def test_a_raising_tool_fails_as_it_does_in_process(self, arcade):
        result = arcade.tools.execute(tool_name="Hooli.Explode")
        assert (result.success, result.output.error.kind) == (False, "TOOL_RUNTIME_FATAL")
        assert result.output.error.stacktrace is None

    def test_a_slow_tool_times_out_at_the_workers_timeout(self, arcade):
        result = arcade.tools.execute(tool_name="Hooli.Nap", input={"seconds": WORKER_TIMEOUT_S + 2})
        assert result.output.error.kind == "NETWORK_TRANSPORT_RUNTIME_TIMEOUT"

    def test_without_written_grants_it_is_granted_what_its_tools_asked_at_first_listing(self, http):
        worker = http.get("/v1/workers/hooli-worker", headers=EXTRAS).json()
        assert worker["grants"] == {"secrets": ["HOOLI_API_KEY"], "providers": ["hooli"], "pinned": True}
        assert worker["refused_tools"] == []

    def test_it_is_listed_as_static_and_cannot_be_changed_through_the_api(self, arcade):
        worker = arcade.workers.get("hooli-worker")
        assert (worker.binding.type, worker.type, worker.enabled) == ("static", "http", True)
        assert worker.http.secret.exists is True and not worker.http.secret.value
        with pytest.raises(ConflictError):
            arcade.workers.update("hooli-worker", enabled=False)
        with pytest.raises(ConflictError):
            arcade.workers.delete("hooli-worker")

    def test_health_checks_reachability_and_the_secret(self, arcade):
        assert arcade.workers.health("hooli-worker").healthy is True
        refused = arcade.workers.health("misconfigured")
        assert refused.healthy is False
        assert "secret" in refused.message

    def test_a_worker_that_refuses_our_secret_does_not_hide_the_others(self, arcade):
        names = [t.name for t in arcade.tools.list(toolkit="Hooli")]
        assert len(names) == len(set(names)) == 7


async def store_token(engine, redis_url, user_id, provider_id, access_token):
    redis = Redis.from_url(redis_url)
    cipher = Cipher([RootKey("k1", engine.root_key, True)])
    store = TokenStore(redis, cipher, RefreshPolicy(), prefix=engine.env["VALETKEY_KEY_PREFIX"])
    now = datetime.now(UTC)
    await store.put(
        user_id,
        provider_id,
        StoredToken(access_token=access_token, issued_at=now, expires_at=now + timedelta(hours=1)),
    )
    await redis.aclose()


class TestAWorkerRegisteredThroughTheApi:
    def test_a_worker_advertising_a_tool_another_source_serves_is_refused(self, arcade, hooli_worker):
        with pytest.raises(ConflictError) as error:
            arcade.workers.create(**http_worker("hooli-copy", hooli_worker, HOOLI_SECRET))
        assert "advertises tools another source already serves: Hooli." in error.value.body["message"]
        with pytest.raises(NotFoundError):
            arcade.workers.get("hooli-copy")

    def test_a_secret_shorter_than_32_characters_is_refused(self, arcade, github_worker):
        with pytest.raises(BadRequestError) as error:
            arcade.workers.create(**http_worker("gh-short", github_worker, "dev"))
        assert "http.secret" in error.value.body["message"]

    def test_a_wrong_secret_is_refused_with_a_clear_error(self, arcade, github_worker):
        with pytest.raises(BadRequestError) as error:
            arcade.workers.create(
                **http_worker("gh-wrong", github_worker, "wrong-secret-wrong-secret-wrong-secret")
            )
        assert "secret does not match" in error.value.body["message"]
        with pytest.raises(NotFoundError):
            arcade.workers.get("gh-wrong")

    async def test_lifecycle_create_use_disable_delete(self, arcade, engine, redis_url, github_worker, fake):
        created = arcade.workers.create(**http_worker("gh", github_worker, GITHUB_SECRET, timeout=10))
        assert (created.id, created.binding.type, created.http.uri) == ("gh", "project", github_worker)
        assert created.http.secret.exists is True and not created.http.secret.value
        assert GITHUB_SECRET not in str(arcade.workers.list().items)
        assert {w.id for w in arcade.workers.list()} == {"hooli-worker", "misconfigured", "gh"}

        tools = list(arcade.workers.tools("gh", limit=10))
        assert "Github.SetStarred" in {t.qualified_name for t in tools}
        assert arcade.workers.health("gh").healthy is True

        user = f"user-{secrets.token_hex(4)}"
        await store_token(engine, redis_url, user, "github", "gho_remote")
        result = arcade.tools.execute(
            tool_name="Github.SetStarred", input={"owner": "a", "name": "b", "starred": True}, user_id=user
        )
        assert result.success is True, result.output.error
        assert ("PUT", "/user/starred/a/b", "Bearer gho_remote") in [
            (s.method, s.path, s.authorization) for s in fake.seen
        ]

        assert arcade.workers.update("gh", enabled=False).enabled is False
        with pytest.raises(NotFoundError):
            arcade.tools.get("Github.SetStarred")
        arcade.workers.update("gh", enabled=True)
        assert arcade.tools.get("Github.SetStarred").name == "SetStarred"

        arcade.workers.delete("gh")
        with pytest.raises(NotFoundError):
            arcade.workers.get("gh")
        with pytest.raises(NotFoundError):
            arcade.tools.get("Github.SetStarred")

    async def test_a_disabled_workers_tool_is_not_authorized_again_from_the_gateways_answer_cache(
        self, arcade, http, engine, redis_url, github_worker
    ):
        arcade.workers.create(**http_worker("gh-cached", github_worker, GITHUB_SECRET, timeout=10))
        try:
            user = f"user-{secrets.token_hex(4)}"
            await store_token(engine, redis_url, user, "github", "gho_cached")
            body = {"tool_name": "Github.SetStarred", "user_id": user}
            first = http.post("/v1/tools/authorize", json=body)
            assert first.json()["status"] == "completed"
            assert http.post("/v1/tools/authorize", json=body).content == first.content  # now cached
            arcade.workers.update("gh-cached", enabled=False)  # the executor tells the gateways first
            assert http.post("/v1/tools/authorize", json=body).status_code == 404
        finally:
            arcade.workers.delete("gh-cached")

    def test_a_duplicate_id_is_a_conflict_and_a_bad_body_a_bad_request(self, http, hooli_worker):
        duplicate = http.post("/v1/workers", json=http_worker("hooli-worker", hooli_worker, HOOLI_SECRET))
        assert duplicate.status_code == 409
        assert http.post("/v1/workers", json={"id": "x", "http": {"uri": "not a url"}}).status_code == 400
        assert (
            http.post("/v1/workers", json={"id": "x", "type": "mcp", "mcp": {"uri": "http://m"}}).status_code
            == 400
        )

    def test_deleting_an_unknown_worker_is_404(self, http):
        assert http.delete("/v1/workers/nope").status_code == 404


def execute(http, tool_name):
    return http.post("/v1/tools/execute", json={"tool_name": tool_name, "user_id": "grants-user"})


class VaultDeployment:
    """A vault worker process on a port of its own; ``redeploy`` restarts it there with another env."""

    def __init__(self) -> None:
        self.port = free_port()
        self._running = contextlib.ExitStack()
        self.url = self.redeploy({})

    def redeploy(self, env: dict[str, str]) -> str:
        self._running.close()
        worker = running_worker(VAULT_SECRET, toolkits=[VAULT], port=self.port, env=env)
        return self._running.enter_context(worker)

    def stop(self) -> None:
        self._running.close()


@pytest.fixture
def vault(http):
    """A vault worker the test registers as ``vault``; removed after."""
    deployment = VaultDeployment()
    yield deployment
    http.delete("/v1/workers/vault")
    deployment.stop()


class TestAWorkerGetsOnlyWhatItIsGranted:
    def test_a_granted_secret_reaches_the_tool_and_an_ungranted_one_is_never_served(self, http, vault):
        body = http_worker("vault", vault.url, VAULT_SECRET) | {"grants": {"secrets": ["VAULT_KEY"]}}
        created = http.post("/v1/workers", json=body, headers=EXTRAS).json()
        assert created["grants"] == {"secrets": ["VAULT_KEY"], "providers": [], "pinned": False}
        assert sorted(created["refused_tools"], key=lambda r: r["tool"]) == [
            {"tool": "Vault.Borrow", "secrets": [], "providers": ["hooli"]},
            {"tool": "Vault.Peek", "secrets": ["PEEK_KEY"], "providers": []},
        ]

        whispered = execute(http, "Vault.Whisper").json()
        assert whispered["output"]["value"] == {"VAULT_KEY": fingerprint("vault-value")}

        refused = execute(http, "Vault.Peek")
        assert (refused.status_code, refused.json()["name"]) == (403, "tool_not_granted")
        assert "asks for secret PEEK_KEY, which worker vault is not granted" in refused.json()["message"]
        listed = {t["name"] for t in http.get("/v1/tools", params={"toolkit": "Vault"}).json()["items"]}
        assert listed == {"Whisper"}
        health = http.get("/v1/workers/vault/health").json()
        assert health["healthy"] is True
        assert (
            "not granted: Vault.Borrow asks for provider hooli; Vault.Peek asks for secret PEEK_KEY"
            in (health["message"])
        )

    def test_a_redeploy_asking_for_more_is_refused_until_an_admin_widens_the_grants(self, http, vault):
        worker = http_worker("vault", vault.url, VAULT_SECRET)
        created = http.post("/v1/workers", json=worker, headers=EXTRAS).json()
        asked_then = {"secrets": ["PEEK_KEY", "VAULT_KEY"], "providers": ["hooli"], "pinned": False}
        assert (created["grants"], created["refused_tools"]) == (asked_then, [])
        assert execute(http, "Vault.Whisper").json()["output"]["value"] == {
            "VAULT_KEY": fingerprint("vault-value")
        }

        vault.redeploy({"VAULT_WHISPER_ASKS": "VAULT_KEY,EXTRA_KEY"})
        health = http.get("/v1/workers/vault/health").json()  # lists its tools now, as a refresh does
        assert "not granted: Vault.Whisper asks for secret EXTRA_KEY" in health["message"]
        refused = execute(http, "Vault.Whisper")
        assert (refused.status_code, refused.json()["name"]) == (403, "tool_not_granted")

        widened = {"grants": {"secrets": ["VAULT_KEY", "PEEK_KEY", "EXTRA_KEY"], "providers": ["hooli"]}}
        assert http.patch("/v1/workers/vault", json=widened, headers=EXTRAS).json()["refused_tools"] == []
        assert execute(http, "Vault.Whisper").json()["output"]["value"] == {
            "VAULT_KEY": fingerprint("vault-value"),
            "EXTRA_KEY": fingerprint("extra-value"),
        }

    def test_grants_that_are_not_names_are_a_bad_request(self, http, vault):
        body = http_worker("vault", vault.url, VAULT_SECRET) | {"grants": {"secrets": ["two words"]}}
        answer = http.post("/v1/workers", json=body)
        assert (answer.status_code, answer.json()["name"]) == (400, "malformed_request")
        assert "grants.secrets.0" in answer.json()["message"]
