"""Arcade's operations beyond tools and auth: engine config, chat completions, worker test and authorize,
the project-scoped gateway paths and their slug check, session verification settings; and every one of
the 56 operations of Arcade's published API document answered by a route.

One engine for the module, with a local OpenAI-compatible model (tests/support/llm_stub.py): no model
can be reached from here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from arcadepy import AsyncArcade
from openai import AsyncOpenAI

from tests.support.auth_flows import new_user
from tests.support.browser import consent_and_follow
from tests.support.client_stack import hooli_engine
from tests.support.engine import Engine
from tests.support.llm_stub import ANSWER_PREFIX, LlmStub, running_llm_stub
from tests.support.worker_app import running_worker

pytestmark = pytest.mark.e2e

MODEL = "stub-model"
LLM_KEY = "sk-stub-key-not-a-real-one"
WORKER_SECRET = "w" * 32
AGENT_KEY = "vk_agent_key_of_the_missing_ops_module"

# The 56 operations of Arcade's API document (method, path), as its public reference lists them.
ARCADE_OPERATIONS = [
    ("GET", "/v1/admin/auth_providers"),
    ("POST", "/v1/admin/auth_providers"),
    ("GET", "/v1/admin/auth_providers/{id}"),
    ("DELETE", "/v1/admin/auth_providers/{id}"),
    ("PATCH", "/v1/admin/auth_providers/{id}"),
    ("GET", "/v1/admin/secrets"),
    ("DELETE", "/v1/admin/secrets/{secret_id}"),
    ("POST", "/v1/admin/secrets/{secret_key}"),
    ("GET", "/v1/admin/settings/session_verification"),
    ("PUT", "/v1/admin/settings/session_verification"),
    ("GET", "/v1/admin/user_connections"),
    ("DELETE", "/v1/admin/user_connections/{id}"),
    ("POST", "/v1/auth/authorize"),
    ("POST", "/v1/auth/confirm_user"),
    ("GET", "/v1/auth/status"),
    ("POST", "/v1/auth/validate_custom_verifier"),
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/config"),
    ("GET", "/v1/formatted_tools"),
    ("GET", "/v1/formatted_tools/{name}"),
    ("GET", "/v1/health"),
    ("GET", "/v1/hooks"),
    ("POST", "/v1/hooks"),
    ("PATCH", "/v1/hooks/bulk"),
    ("GET", "/v1/hooks/{hook_id}"),
    ("DELETE", "/v1/hooks/{hook_id}"),
    ("PATCH", "/v1/hooks/{hook_id}"),
    ("GET", "/v1/orgs/{org_id}/projects/{project_id}/gateways"),
    ("POST", "/v1/orgs/{org_id}/projects/{project_id}/gateways"),
    ("POST", "/v1/orgs/{org_id}/projects/{project_id}/gateways/slug"),
    ("GET", "/v1/orgs/{org_id}/projects/{project_id}/gateways/{gateway_id}"),
    ("PUT", "/v1/orgs/{org_id}/projects/{project_id}/gateways/{gateway_id}"),
    ("DELETE", "/v1/orgs/{org_id}/projects/{project_id}/gateways/{gateway_id}"),
    ("PATCH", "/v1/orgs/{org_id}/projects/{project_id}/gateways/{gateway_id}"),
    ("GET", "/v1/plugins"),
    ("POST", "/v1/plugins"),
    ("GET", "/v1/plugins/{plugin_id}"),
    ("DELETE", "/v1/plugins/{plugin_id}"),
    ("PATCH", "/v1/plugins/{plugin_id}"),
    ("GET", "/v1/scheduled_tools"),
    ("GET", "/v1/scheduled_tools/{id}"),
    ("GET", "/v1/swagger"),
    ("GET", "/v1/tools"),
    ("POST", "/v1/tools/authorize"),
    ("POST", "/v1/tools/execute"),
    ("POST", "/v1/tools/requirements"),
    ("GET", "/v1/tools/{name}"),
    ("GET", "/v1/workers"),
    ("POST", "/v1/workers"),
    ("POST", "/v1/workers/test"),
    ("GET", "/v1/workers/{id}"),
    ("DELETE", "/v1/workers/{id}"),
    ("PATCH", "/v1/workers/{id}"),
    ("GET", "/v1/workers/{id}/authorize"),
    ("GET", "/v1/workers/{id}/health"),
    ("GET", "/v1/workers/{id}/tools"),
]


@pytest.fixture(scope="module")
def llm() -> Iterator[LlmStub]:
    with running_llm_stub() as stub:
        yield stub


@pytest.fixture(autouse=True)
def no_arguments(llm) -> None:
    """The stub model calls its tool with no arguments unless a test sets them."""
    llm.arguments = {}


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url, llm) -> Iterator[Engine]:
    def with_model(config: dict[str, Any]) -> None:
        upstream = {"base_url": llm.base_url, "api_key": LLM_KEY, "models": [MODEL]}
        config["llm"] = {"models": [{"id": "stub", "openai": upstream}]}
        config["api"]["keys"] = [{"key": AGENT_KEY, "project": "default", "role": "agent"}]

    home = tmp_path_factory.mktemp("missing_ops")
    with hooli_engine(home, nats_url=nats_url, redis_url=redis_url, tweak=with_model) as (engine, _):
        yield engine


@pytest.fixture
def client(engine) -> AsyncArcade:
    return AsyncArcade(base_url=engine.base_url, api_key=engine.api_key, max_retries=0)


def call(engine: Engine, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
    return httpx.request(
        method,
        f"{engine.base_url}{path}",
        headers=engine.headers,
        json=body,
        params=params or None,
        timeout=30,
        trust_env=False,
    )


class TestEngineConfig:
    def test_the_config_names_the_callback_url_and_the_longest_tool_run_and_nothing_secret(self, engine):
        answer = call(engine, "GET", "/v1/config")
        assert answer.status_code == 200
        body = answer.json()
        assert body["oauth2"] == {"callback_url_template": engine.redirect_uri}
        assert body["servers"]["timeout_max_seconds"] >= 1
        assert engine.api_key not in answer.text and LLM_KEY not in answer.text


class TestChatCompletions:
    async def test_a_tool_call_is_run_for_the_user_and_the_model_answers_with_its_result(self, client, llm):
        before = len(llm.requests)
        answer: dict[str, Any] = await client.post(
            "/v1/chat/completions",
            cast_to=object,
            body={
                "model": MODEL,
                "messages": [{"role": "user", "content": "ping hooli"}],
                "tools": ["Hooli.Ping"],
                "user": new_user("chat"),
            },
        )
        choice = answer["choices"][0]
        assert choice["message"]["content"] == f"{ANSWER_PREFIX}{json.dumps('pong')}"
        assert [m["name"] for m in choice["tool_messages"]] == ["Hooli_Ping"]
        first, second = llm.requests[before:]
        assert first["tools"][0]["function"]["name"] == "Hooli_Ping" and first["tool_choice"] == "auto"
        assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool"]
        assert set(llm.authorizations[before:]) == {f"Bearer {LLM_KEY}"}

    async def test_a_tool_needing_the_users_consent_returns_the_authorization_to_open(self, client, llm):
        llm.arguments = {"num_splines": 3}
        answer: dict[str, Any] = await client.post(
            "/v1/chat/completions",
            cast_to=object,
            body={
                "model": MODEL,
                "messages": [{"role": "user", "content": "reticulate"}],
                "tools": ["Hooli.ReticulateSplines"],
                "user": new_user("chat"),
            },
        )
        choice = answer["choices"][0]
        assert choice["message"]["tool_calls"][0]["function"]["name"] == "Hooli_ReticulateSplines"
        (authorization,) = choice["tool_authorizations"]
        assert authorization["status"] == "pending" and authorization["url"]

    async def test_the_openai_client_streams_the_final_answer_after_the_tools_ran(self, engine, llm):
        openai = AsyncOpenAI(base_url=f"{engine.base_url}/v1", api_key=engine.api_key, max_retries=0)
        stream = await openai.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "ping hooli"}],
            tools=["Hooli.Ping"],  # type: ignore[list-item]  # Arcade's tool names, not OpenAI's
            user=new_user("chat"),
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == f"{ANSWER_PREFIX}{json.dumps('pong')}"
        assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 15
        assert "stream" not in llm.requests[-1]

    def test_generate_returns_the_tool_calls_without_running_them(self, engine, llm):
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "ping"}],
            "tools": ["Hooli.Ping"],
            "tool_choice": "generate",
            "user": new_user("chat"),
        }
        choice = call(engine, "POST", "/v1/chat/completions", body).json()["choices"][0]
        assert choice["finish_reason"] == "tool_calls" and "tool_messages" not in choice

    @pytest.mark.parametrize(
        ("body", "says"),
        [
            ({"messages": []}, "messages"),
            ({"messages": [{"role": "user", "content": "x"}], "tools": ["Hooli.Ping"]}, "user is required"),
            ({"messages": [{"role": "user", "content": "x"}], "tools": "Hooli.Ping"}, "tools must be"),
        ],
    )
    def test_a_bad_request_is_a_400_in_the_error_shape(self, engine, body, says):
        answer = call(engine, "POST", "/v1/chat/completions", body)
        assert answer.status_code == 400 and says in answer.json()["message"]


class TestWorkers:
    def test_a_worker_is_tested_without_being_registered(self, engine):
        with running_worker(WORKER_SECRET) as url:
            reachable = call(engine, "POST", "/v1/workers/test", {"type": "http", "http": {"uri": url}})
            assert reachable.status_code == 200 and reachable.json()["success"] is True
            checked = {"type": "http", "http": {"uri": url, "secret": WORKER_SECRET}}
            assert call(engine, "POST", "/v1/workers/test", checked).json()["success"] is True
            wrong = {"type": "http", "http": {"uri": url, "secret": "x" * 32}}
            refused = call(engine, "POST", "/v1/workers/test", wrong).json()
            assert refused == {"success": False, "message": "the worker refused the engine's credentials"}
        assert call(engine, "GET", "/v1/workers").json()["items"] == []

    def test_an_unreachable_worker_fails_the_test_and_a_bad_body_is_a_400(self, engine):
        down = call(
            engine, "POST", "/v1/workers/test", {"type": "http", "http": {"uri": "http://127.0.0.1:9"}}
        )
        assert down.status_code == 200 and down.json()["success"] is False
        assert call(engine, "POST", "/v1/workers/test", {"type": "ftp"}).status_code == 400
        assert call(engine, "POST", "/v1/workers/test", {"type": "mcp", "mcp": {}}).status_code == 400

    def test_authorizing_an_unknown_worker_is_a_404(self, engine):
        answer = call(engine, "GET", "/v1/workers/nope/authorize")
        assert (answer.status_code, answer.json()["name"]) == (404, "not_found")


class TestProjectGateways:
    BASE = "/v1/orgs/my-org/projects/default/gateways"

    def test_a_slug_is_available_until_a_gateway_takes_it(self, engine):
        slug = new_user("gw").replace("@", "-").replace(".", "-")
        assert call(engine, "POST", f"{self.BASE}/slug", {"slug": slug}).json() == {"available": True}
        body = {"name": "Gateway", "slug": slug, "tool_filter": {"allowed_tools": ["Hooli.Ping"]}}
        created = call(engine, "POST", self.BASE, body)
        assert created.status_code == 201, created.text
        assert call(engine, "POST", f"{self.BASE}/slug", {"slug": slug}).json() == {"available": False}
        assert call(engine, "GET", f"{self.BASE}/{slug}").json()["slug"] == slug
        assert call(engine, "DELETE", f"{self.BASE}/{slug}").status_code == 204
        assert call(engine, "POST", f"{self.BASE}/slug", {}).status_code == 400


class TestSessionVerification:
    PATH = "/v1/admin/settings/session_verification"

    def test_engine_yamls_verification_is_the_default_and_a_bad_update_is_refused(self, engine):
        assert call(engine, "GET", self.PATH).json() == {
            "unsafe_skip_verification": True,
            "unsafe_skip_verification_choice_allowed": True,
            "verifier_url": None,
        }
        refused = call(engine, "PUT", self.PATH, {"verifier_url": "ftp://x"})
        assert (refused.status_code, refused.json()["name"]) == (400, "malformed_request")

    async def test_a_projects_own_verifier_gets_the_next_callback_and_its_confirm_user_completes_it(
        self, engine, client, llm
    ):
        verifier = f"{llm.base_url}/verify"
        changed = call(engine, "PUT", self.PATH, {"verifier_url": verifier})
        try:
            assert changed.json()["verifier_url"] == verifier
            assert changed.json()["unsafe_skip_verification"] is False
            user = new_user("verify")
            started = await client.tools.authorize(tool_name="Hooli.ReticulateSplines", user_id=user)
            assert started.url is not None
            landed = await consent_and_follow(started.url, login=user, callback_prefix=engine.redirect_uri)
            assert str(landed.url).startswith(f"{verifier}?flow_id=")
            flow_id = landed.url.params["flow_id"]
            await client.auth.confirm_user(flow_id=flow_id, user_id=user)
            assert started.id is not None
            assert (await client.auth.status(id=started.id)).status == "completed"
        finally:
            reset = call(engine, "PUT", self.PATH, {})
        assert reset.json()["unsafe_skip_verification"] is True and reset.json()["verifier_url"] is None

    async def test_a_custom_verifier_test_flow_passes_for_its_user_and_fails_for_another(
        self, engine, client
    ):
        user = new_user("verifier-test")
        body = {"user_id": user, "verifier_url": "https://app.example/verify?tab=1"}
        started = call(engine, "POST", "/v1/auth/validate_custom_verifier", body).json()
        assert started["next_uri"] == f"https://app.example/verify?tab=1&flow_id={started['flow_id']}"
        confirmed = await client.auth.confirm_user(flow_id=started["flow_id"], user_id=user)
        assert confirmed.auth_id == started["flow_id"]
        again = call(engine, "POST", "/v1/auth/validate_custom_verifier", body).json()
        wrong = call(
            engine, "POST", "/v1/auth/confirm_user", {"flow_id": again["flow_id"], "user_id": "mallory"}
        )
        assert (wrong.status_code, wrong.json()["name"]) == (400, "user_mismatch")


def test_an_agent_key_reads_the_config_and_chats_but_changes_no_setting_and_tests_no_worker(engine):
    agent = {"Authorization": f"Bearer {AGENT_KEY}"}

    def as_agent(method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(method, f"{engine.base_url}{path}", headers=agent, json=body, trust_env=False)

    assert as_agent("GET", "/v1/config").status_code == 200
    chat = as_agent(
        "POST", "/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}
    )
    assert chat.status_code == 200
    for method, path in [
        ("PUT", "/v1/admin/settings/session_verification"),
        ("POST", "/v1/workers/test"),
        ("POST", "/v1/orgs/o/projects/default/gateways/slug"),
    ]:
        refused = as_agent(method, path, {})
        assert (refused.status_code, refused.json()["name"]) == (403, "admin_key_required"), path


@pytest.mark.parametrize(
    ("method", "path", "body", "named"),
    [
        ("POST", "/v1/orgs/o/projects/default/gateways", {"name": "n", "tool_filters": {}}, "tool_filters"),
        ("PUT", "/v1/orgs/o/projects/default/gateways/g", {"name": "n", "slug": 7}, "slug"),
        ("POST", "/v1/orgs/o/projects/default/gateways/slug", {"slug": "s", "slugs": []}, "slugs"),
        ("PATCH", "/v1/orgs/o/projects/default/gateways/g", {"tool_filter": {"allowed": []}}, "allowed"),
        ("POST", "/v1/plugins", {"name": "p", "plugin_type": "webhook", "webhook_config": {}}, "endpoints"),
        ("PATCH", "/v1/plugins/p", {"retry": {"attempts": 2}}, "attempts"),
        ("POST", "/v1/hooks", {"plugin_id": "p", "hook_point": "tool.pre", "priorty": 1}, "priorty"),
        ("PATCH", "/v1/hooks/h", {"priority": "high"}, "priority"),
        ("PATCH", "/v1/hooks/bulk", {"configs": [{"plugin_id": "p", "hook_point": "tool.pre", "x": 1}]}, "x"),
        ("PATCH", "/v1/hooks/bulk", {"hooks": [{"id": "h", "priorty": 1}]}, "priorty"),
    ],
)
def test_an_unknown_or_mistyped_request_field_is_a_400_naming_it(engine, method, path, body, named):
    answer = call(engine, method, path, body)
    assert (answer.status_code, answer.json()["name"]) == (400, "malformed_request"), answer.text
    assert named in answer.json()["message"]


def _concrete(path: str) -> str:
    values = {"org_id": "org", "project_id": "default"}
    for name in ("id", "secret_id", "secret_key", "name", "hook_id", "plugin_id", "gateway_id"):
        values[name] = "does-not-exist"
    return path.format(**values)


def test_arcades_published_api_has_56_operations_and_each_is_routed(engine):
    assert len(ARCADE_OPERATIONS) == len(set(ARCADE_OPERATIONS)) == 56
    unrouted = []
    for method, path in ARCADE_OPERATIONS:
        body = {} if method in ("POST", "PUT", "PATCH") else None
        answer = call(engine, method, _concrete(path), body)
        if answer.status_code == 404 and answer.json().get("name") == "route_not_found":
            unrouted.append((method, path))
        assert answer.status_code < 500, (method, path, answer.text)
    assert unrouted == []
