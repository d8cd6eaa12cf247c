"""Contextual Access (docs/contextual-access.md) through the real engine, a real plugin server and HTTP.

One engine for the module, the hooli toolkit in process. The default project's plugin
(tests/support/hook_server.py) denies one user, rewrites ``Hooli.Nap``'s input and redacts
``Hooli.Ping``'s output; projects ``closed`` and ``open`` each call a plugin nobody listens to,
failing closed and open.
"""

import secrets
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.engine import base_config, running_engine
from tests.support.hook_server import DENIED_USER, REDACTED, running_hook_server
from tools.launcher import embedded

pytestmark = pytest.mark.e2e

CLOSED_KEY = "vk_test_key_of_project_closed"
OPEN_KEY = "vk_test_key_of_project_open"


@pytest.fixture(scope="module")
def hook_server():
    with running_hook_server() as server:
        yield server


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url):
    home = tmp_path_factory.mktemp("hooks-engine")
    port = embedded.free_port()
    config = base_config(port, secrets.token_urlsafe(32))
    config["tools"]["toolkits"] = ["tests.support.toolkits.hooli"]
    config["tools"]["scheduled"] = {"poll_seconds": 0.1}
    config["api"]["keys"] = [
        {"key": CLOSED_KEY, "project": "closed", "role": "admin"},
        {"key": OPEN_KEY, "project": "open", "role": "admin"},
    ]
    with running_engine(home, nats_url=nats_url, redis_url=redis_url, config=config) as running:
        yield running


def api(engine, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key or engine.api_key}"}
    return httpx.Client(base_url=engine.base_url, headers=headers, timeout=30)


def endpoints(url: str, failure_mode: str = "fail_closed") -> dict:
    return {
        point: {"url": f"{url}/{point}", "failure_mode": failure_mode, "phase": "before", "timeout_ms": 2000}
        for point in ("access", "pre", "post")
    }


def plugin_body(url: str, failure_mode: str = "fail_closed", token: str = "hook-token") -> dict:
    return {
        "name": f"policy-{secrets.token_hex(3)}",
        "plugin_type": "webhook",
        "webhook_config": {
            "auth": {"type": "bearer", "token": token},
            "endpoints": endpoints(url, failure_mode),
        },
    }


@pytest.fixture(scope="module")
def policy(engine, hook_server):
    with api(engine) as client:
        created = client.post("/v1/plugins", json=plugin_body(hook_server.url))
    assert created.status_code == 201, created.text
    return created.json()


def execute(engine, tool: str, user: str, key: str | None = None, **inputs) -> httpx.Response:
    with api(engine, key) as client:
        return client.post("/v1/tools/execute", json={"tool_name": tool, "user_id": user, "input": inputs})


def scheduled_run(engine, tool: str, user: str) -> dict:
    """Schedule ``tool`` a second ahead and wait for its run to end (or give up after a minute)."""
    run_at = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    with api(engine) as client:
        scheduled = client.post(
            "/v1/tools/execute", json={"tool_name": tool, "user_id": user, "run_at": run_at}
        )
        assert scheduled.status_code == 200, scheduled.text
        deadline = time.monotonic() + 60
        while (run := client.get(f"/v1/scheduled_tools/{scheduled.json()['id']}").json())[
            "execution_status"
        ] not in ("success", "failed"):
            assert time.monotonic() < deadline, f"the scheduled run never ended: {run}"
            time.sleep(0.1)
    return run


def dead_url() -> str:
    return f"http://127.0.0.1:{embedded.free_port()}"


class TestTheAdminApi:
    def test_a_plugin_is_created_with_one_hook_per_endpoint_and_never_shows_its_token(self, policy):
        assert {h["hook_point"] for h in policy["hooks"]} == {"tool.access", "tool.pre", "tool.post"}
        assert all(h["plugin_id"] == policy["id"] for h in policy["hooks"])
        auth = policy["webhook_config"]["auth"]
        assert auth["type"] == "bearer"
        assert auth["token"]["exists"] is True
        assert "hook-token" not in str(policy)

    def test_plugins_and_hooks_are_listed_read_and_filtered(self, engine, policy):
        with api(engine) as client:
            plugins = client.get("/v1/plugins").json()
            got = client.get(f"/v1/plugins/{policy['id']}").json()
            pre = client.get("/v1/hooks", params={"hook_point": "tool.pre", "plugin_id": policy["id"]}).json()
        assert policy["id"] in [p["id"] for p in plugins["items"]]
        assert got["name"] == policy["name"]
        assert [h["hook_point"] for h in pre["items"]] == ["tool.pre"]

    def test_another_projects_keys_do_not_see_the_plugin(self, engine, policy):
        with api(engine, CLOSED_KEY) as client:
            answer = client.get(f"/v1/plugins/{policy['id']}")
        assert answer.status_code == 404
        assert answer.json()["name"] == "not_found"

    @pytest.mark.parametrize("params", [{"offset": -1}, {"offset": 9223372036854775807}, {"limit": -5}])
    def test_an_offset_or_limit_out_of_range_is_a_400(self, engine, params):
        with api(engine) as client:
            for path in ("/v1/plugins", "/v1/hooks"):
                answer = client.get(path, params=params)
                assert answer.status_code == 400, (path, answer.text)

    def test_a_bad_body_is_a_400_naming_the_field(self, engine, hook_server):
        bad_mode = plugin_body(hook_server.url, failure_mode="sometimes")
        with api(engine) as client:
            no_type = client.post("/v1/plugins", json={"name": "x", "webhook_config": {"endpoints": {}}})
            mode = client.post("/v1/plugins", json=bad_mode)
            point = client.post("/v1/hooks", json={"plugin_id": "p", "hook_point": "tool.maybe"})
            bulk = client.patch("/v1/hooks/bulk", json={"hooks": "all"})
        assert no_type.status_code == 400 and "plugin_type" in no_type.json()["message"]
        assert mode.status_code == 400 and "failure_mode" in mode.json()["message"]
        assert point.status_code == 400 and "hook_point" in point.json()["message"]
        assert bulk.status_code == 400

    def test_a_bulk_upsert_changes_existing_hooks_and_creates_new_ones(self, engine, hook_server):
        with api(engine, OPEN_KEY) as client:
            plugin = client.post("/v1/plugins", json=plugin_body(hook_server.url)).json()
            hook = plugin["hooks"][0]
            items = [
                {"id": hook["id"], "priority": 7, "status": "inactive"},
                {"plugin_id": plugin["id"], "hook_point": "tool.post", "priority": 3},
            ]
            answer = client.patch("/v1/hooks/bulk", json={"hooks": items})
            changed = client.get(f"/v1/hooks/{hook['id']}").json()
            client.delete(f"/v1/plugins/{plugin['id']}")
            gone = client.get(f"/v1/hooks/{hook['id']}")
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert [r["action"] for r in results] == ["updated", "created"] and answer.json()["success"] == 2
        assert results[0]["hook_id"] == hook["id"]
        assert (changed["priority"], changed["status"]) == (7, "inactive")
        assert gone.status_code == 404


class TestExecutionsCallTheHooks:
    def test_the_access_hook_denies_one_user_with_its_reason(self, engine, policy):
        denied = execute(engine, "Hooli.Ping", DENIED_USER)
        allowed = execute(engine, "Hooli.Ping", "alice")
        assert denied.status_code == 403
        assert denied.json()["name"] == "tool_denied_by_hook"
        assert f"{DENIED_USER} may not use Hooli" in denied.json()["message"]
        assert allowed.status_code == 200

    def test_the_pre_hook_rewrites_an_input(self, engine, policy, hook_server):
        answer = execute(engine, "Hooli.Nap", "alice", seconds=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["output"]["value"] == 0.0
        pre = [
            body for point, body in hook_server.received if point == "pre" and body["tool"]["name"] == "Nap"
        ]
        assert pre[-1]["inputs"] == {"seconds": 30}
        assert pre[-1]["context"]["user_id"] == "alice"

    def test_the_post_hook_redacts_an_output(self, engine, policy):
        answer = execute(engine, "Hooli.Ping", "alice")
        assert answer.json()["output"]["value"] == REDACTED

    def test_a_scheduled_run_is_redacted_and_a_denied_users_is_refused_with_the_reason(self, engine, policy):
        redacted = scheduled_run(engine, "Hooli.Ping", "alice")
        refused = scheduled_run(engine, "Hooli.Ping", DENIED_USER)
        assert redacted["attempts"][-1]["output"]["value"] == REDACTED
        assert refused["execution_status"] == "failed"
        assert f"{DENIED_USER} may not use Hooli" in refused["attempts"][-1]["system_error_message"]

    def test_a_disabled_hook_is_no_longer_called(self, engine, policy):
        access = next(h for h in policy["hooks"] if h["hook_point"] == "tool.access")
        with api(engine) as client:
            client.patch(f"/v1/hooks/{access['id']}", json={"status": "inactive"})
            answer = execute(engine, "Hooli.Ping", DENIED_USER)
            client.patch(f"/v1/hooks/{access['id']}", json={"status": "active"})
        assert answer.status_code == 200

    def test_a_dead_plugin_that_fails_closed_refuses_the_execution(self, engine):
        with api(engine, CLOSED_KEY) as client:
            created = client.post("/v1/plugins", json=plugin_body(dead_url(), "fail_closed"))
        assert created.status_code == 201, created.text
        answer = execute(engine, "Hooli.Ping", "alice", key=CLOSED_KEY)
        assert answer.status_code == 403
        assert answer.json()["name"] == "hook_unavailable"
        assert "fails closed" in answer.json()["message"]

    def test_a_dead_plugin_that_fails_open_lets_the_execution_run(self, engine):
        with api(engine, OPEN_KEY) as client:
            created = client.post("/v1/plugins", json=plugin_body(dead_url(), "fail_open"))
        assert created.status_code == 201, created.text
        answer = execute(engine, "Hooli.Ping", "alice", key=OPEN_KEY)
        assert answer.status_code == 200, answer.text
        assert answer.json()["output"]["value"] == "pong"

    def test_a_plugin_that_refuses_the_token_fails_like_a_dead_one(self, engine, hook_server):
        with api(engine, CLOSED_KEY) as client:
            for plugin in client.get("/v1/plugins").json()["items"]:
                client.delete(f"/v1/plugins/{plugin['id']}")
            client.post("/v1/plugins", json=plugin_body(hook_server.url, token="wrong"))
            answer = execute(engine, "Hooli.Ping", "alice", key=CLOSED_KEY)
        assert answer.status_code == 403
        assert "401" in answer.json()["message"]
