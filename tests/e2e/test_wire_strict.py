"""Every body a realistic session receives validates strictly against the gateway's /openapi.json.

A client generated from Arcade's document in strict mode (openapi-generator's Java client, its Go
client since 7.1) refuses a ``null`` where a field is not nullable and a field its schema does not
declare. This module drives what an app does (tools listed and read, an authorization started,
consented and polled, tools run, failing and refused, secrets and providers administered,
connections listed, a worker registered, read, changed and probed, health, errors) against one
engine and checks each answer against the document the gateway serves
(docs/arcade-compatibility.md §1.6). Valetkey's extras come only when asked for, and then the
same routes answer them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.auth_flows import new_user
from tests.support.browser import consent_and_follow
from tests.support.client_stack import HOOLI_SCOPES, hooli_engine
from tests.support.engine import Engine
from tests.support.llm_stub import LlmStub, running_llm_stub
from tests.support.strict_openapi import StrictSession
from tests.support.worker_app import running_worker

pytestmark = pytest.mark.e2e

SPLINES = "Hooli.ReticulateSplines"
EXTRAS = {"Valetkey-Extras": "true"}
WORKER_SECRET = "wire-worker-secret-0123456789abcdef"
WORKER = "/v1/workers/{worker_id}"
MODEL = "stub-model"
GATEWAYS = "/v1/orgs/wire-org/projects/default/gateways"
GATEWAY = "/v1/gateways/{gateway_id}"


@pytest.fixture(scope="module")
def llm() -> Iterator[LlmStub]:
    with running_llm_stub() as stub:
        yield stub


@pytest.fixture(scope="module")
def engine(tmp_path_factory, nats_url, redis_url, llm) -> Iterator[Engine]:
    def with_model(config: dict[str, Any]) -> None:
        upstream = {"base_url": llm.base_url, "api_key": "sk-wire-stub", "models": [MODEL]}
        config["llm"] = {"models": [{"id": "stub", "openai": upstream}]}

    home = tmp_path_factory.mktemp("wire")
    with hooli_engine(home, nats_url=nats_url, redis_url=redis_url, tweak=with_model) as (running, _):
        yield running


@pytest.fixture(scope="module")
def session(engine) -> Iterator[StrictSession]:
    client = StrictSession(engine.base_url, engine.headers)
    yield client
    client.http.close()


@pytest.fixture(scope="module")
def worker(session) -> Iterator[dict[str, Any]]:
    """The vault toolkit on an arcade-serve worker, registered through the API (its answer checked)."""
    with running_worker(WORKER_SECRET, toolkits=["tests.support.toolkits.vault"]) as url:
        http = {"uri": url, "secret": WORKER_SECRET, "timeout": 5, "retry": 1}
        yield session.call("POST", "/v1/workers", 201, json={"id": "wire-vault", "http": http})
        session.http.delete("/v1/workers/wire-vault")


class TestAStrictClientDecodesEveryAnswer:
    def test_tool_definitions_lists_and_formatted_tools(self, session):
        listed = session.call("GET", "/v1/tools?toolkit=hooli&limit=100", 200)
        assert SPLINES in {tool["qualified_name"] for tool in listed["items"]}
        one = "/v1/tools/{name}"
        session.call("GET", f"/v1/tools/{SPLINES}", 200, template=one)
        session.call("GET", f"/v1/tools/{SPLINES}?user_id={new_user('wire')}", 200, template=one)
        session.call("GET", "/v1/tools/Hooli.ReadApiKeyFingerprint?user_id=u", 200, template=one)
        session.call("GET", f"/v1/tools/{SPLINES}?include_format=openai,anthropic", 200, template=one)
        session.call("GET", "/v1/formatted_tools?toolkit=hooli&format=anthropic", 200)
        assert session.problems == []

    def test_value_schemas_carry_arcades_three_fields_only(self, session):
        listed = session.call("GET", "/v1/tools?toolkit=hooli&limit=100", 200)
        schemas = [p["value_schema"] for t in listed["items"] for p in t["input"]["parameters"]]
        assert schemas and all(set(s) <= {"val_type", "enum", "inner_val_type"} for s in schemas)
        assert all(None not in s.values() for s in schemas)

    def test_tools_that_run_fail_and_are_refused(self, session):
        execute = "/v1/tools/execute"
        ran = session.call("POST", execute, 200, json={"tool_name": "Hooli.Ping"})
        assert ran["success"] is True and "tool_name" not in ran
        failed = session.call("POST", execute, 200, json={"tool_name": "Hooli.Flaky", "input": {"hint": "x"}})
        assert failed["output"]["error"]["retry_after_ms"] == 250
        session.call("POST", execute, 200, json={"tool_name": "Hooli.Explode"})
        refused = session.call("POST", execute, 403, json={"tool_name": SPLINES, "user_id": new_user("wire")})
        assert refused["name"] == "tool_authorization_required" and set(refused) == {"name", "message"}
        session.call("POST", execute, 403, json={"tool_name": "Hooli.ReadApiKeyFingerprint", "user_id": "u"})
        assert session.problems == []

    def test_a_scheduled_execution_its_list_and_its_detail(self, session):
        later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
        run = {"tool_name": "Hooli.Ping", "run_at": later}
        scheduled = session.call("POST", "/v1/tools/execute", 200, json=run)
        assert scheduled["execution_type"] == "scheduled"
        session.call("GET", "/v1/scheduled_tools", 200)
        detail = "/v1/scheduled_tools/{execution_id}"
        session.call("GET", f"/v1/scheduled_tools/{scheduled['id']}", 200, template=detail)
        assert session.problems == []

    async def test_an_authorization_from_start_to_completed_and_its_connection(self, engine, session):
        user = new_user("wire")
        started = session.call(
            "POST", "/v1/auth/authorize", 200, json={"user_id": user, "auth_requirement": _hooli()}
        )
        assert started["status"] == "pending" and started["authorization_url"] == started["url"]
        session.call("GET", f"/v1/auth/status?id={started['id']}", 200)
        pending = session.call(
            "POST", "/v1/tools/authorize", 200, json={"tool_name": SPLINES, "user_id": user}
        )
        assert pending["status"] == "pending"
        await consent_and_follow(started["url"], login=user, callback_prefix=engine.redirect_uri)
        done = session.call("GET", f"/v1/auth/status?id={started['id']}&wait=5", 200)
        assert done["status"] == "completed" and done["context"]["token"]
        completed = session.call(
            "POST", "/v1/tools/authorize", 200, json={"tool_name": SPLINES, "user_id": user}
        )
        assert completed["status"] == "completed" and "url" not in completed
        run = {"tool_name": SPLINES, "user_id": user, "input": {"num_splines": 3}}
        ran = session.call("POST", "/v1/tools/execute", 200, json=run)
        assert ran["success"] is True
        connections = session.call("GET", f"/v1/admin/user_connections?user_id={user}", 200)
        assert [c["user_id"] for c in connections["items"]] == [user]
        one = connections["items"][0]["id"]
        session.call(
            "GET",
            f"/v1/admin/user_connections/{one}",
            200,
            template="/v1/admin/user_connections/{connection_id}",
        )
        assert session.problems == []

    def test_secrets_and_providers_administered(self, session):
        secret = session.call(
            "POST", "/v1/admin/secrets/WIRE_KEY", 200, json={"value": "v"}, template=_SECRET
        )
        assert "value" not in secret and "last_accessed_at" not in secret
        session.call(
            "PUT",
            "/v1/admin/secrets/WIRE_KEY",
            200,
            json={"value": "w", "description": "d"},
            template=_SECRET,
        )
        session.call("GET", "/v1/admin/secrets", 200)
        session.call("GET", "/v1/admin/auth_providers", 200)
        session.call("GET", "/v1/admin/auth_providers/hooli", 200, template=_PROVIDER)
        created = session.call("POST", "/v1/admin/auth_providers", 201, json=_runtime_provider("wire-idp"))
        assert "external_id" not in created and "source" not in created
        renamed = {"description": "renamed"}
        session.call("PATCH", "/v1/admin/auth_providers/wire-idp", 200, json=renamed, template=_PROVIDER)
        session.call("DELETE", "/v1/admin/auth_providers/wire-idp", 200, template=_PROVIDER)
        assert session.problems == []

    def test_workers_registered_listed_read_changed_and_probed(self, session, worker):
        assert worker["http"]["secret"]["exists"] is True and "grants" not in worker
        listed = session.call("GET", "/v1/workers", 200)
        assert "wire-vault" in {w["id"] for w in listed["items"]}
        one = session.call("GET", "/v1/workers/wire-vault", 200, template=WORKER)
        assert (one["type"], one["binding"]["type"]) == ("http", "project")
        changed = session.call(
            "PATCH", "/v1/workers/wire-vault", 200, json={"http": {"retry": 2}}, template=WORKER
        )
        assert changed["http"]["retry"] == 2
        health = session.call("GET", "/v1/workers/wire-vault/health", 200, template=f"{WORKER}/health")
        assert health["healthy"] is True and "refused_tools" not in health
        assert session.problems == []

    def test_a_workers_tools_its_authorization_and_a_worker_tested_before_registering(self, session, worker):
        tools = session.call("GET", "/v1/workers/wire-vault/tools", 200, template=f"{WORKER}/tools")
        assert tools["items"] and all(
            "value_schema" in p for t in tools["items"] for p in t["input"]["parameters"]
        )
        authorized = session.call(
            "GET", "/v1/workers/wire-vault/authorize?user_id=u", 200, template=f"{WORKER}/authorize"
        )
        assert authorized == {"worker_id": "wire-vault", "user_id": "u", "scopes": [], "status": "completed"}
        with running_worker(WORKER_SECRET) as url:
            tested = session.call(
                "POST", "/v1/workers/test", 200, json={"type": "http", "http": {"uri": url}}
            )
        assert tested["success"] is True
        down = {"type": "http", "http": {"uri": "http://127.0.0.1:9"}}
        assert session.call("POST", "/v1/workers/test", 200, json=down)["success"] is False
        session.call("GET", "/v1/workers/nope/authorize", 404, template=f"{WORKER}/authorize")
        assert session.problems == []

    def test_health_the_engine_configuration_and_errors(self, session, engine):
        assert session.call("GET", "/v1/health", 200) == {"healthy": True}
        config = session.call("GET", "/v1/config", 200)
        assert config["oauth2"]["callback_url_template"] == engine.redirect_uri
        session.call("GET", "/v1/tools/Hooli.NoSuchTool", 404, template="/v1/tools/{name}")
        session.call("GET", "/v1/admin/user_connections?offset=9223372036854775807", 400)
        session.call("GET", "/v1/auth/status?id=ac_no_such", 404)
        assert session.problems == [] and session.checked >= 5


class TestArcadesGatewayPathsAnswerGatewayResponses:
    def test_a_gateway_created_read_listed_patched_replaced_and_deleted(self, session):
        created = session.call(
            "POST",
            GATEWAYS,
            201,
            template="/v1/gateways",
            json={
                "name": "Wire Triage",
                "description": "d",
                "instructions": "be brief",
                "auth_type": "arcade_header",
                "tool_filter": {"allowed_tools": ["Hooli.Ping"]},
            },
        )
        slug = created["slug"]
        assert (slug, created["id"], created["status"]) == ("wire-triage", "wire-triage", "active")
        assert created["tool_filter"] == {"allowed_tools": ["Hooli.Ping"]} and "tools" not in created
        one = f"{GATEWAYS}/{slug}"
        assert session.call("GET", one, 200, template=GATEWAY)["name"] == "Wire Triage"
        listed = session.call("GET", GATEWAYS, 200, template="/v1/gateways")
        assert slug in {g["id"] for g in listed["items"]}
        patched = session.call("PATCH", one, 200, template=GATEWAY, json={"description": "e"})
        assert (patched["description"], patched["instructions"]) == ("e", "be brief")
        replaced = session.call(
            "PUT",
            one,
            200,
            template=GATEWAY,
            json={"id": slug, "name": "W", "tool_filter": {"allowed_tools": ["Hooli.*"]}},
        )
        assert (replaced["name"], replaced["instructions"], replaced["auth_type"]) == (
            "W",
            "",
            "arcade_header",
        )
        taken = session.call(
            "POST", f"{GATEWAYS}/slug", 200, template="/v1/gateways/slug", json={"slug": slug}
        )
        assert taken == {"available": False}
        ours = session.http.get(f"/v1/admin/mcp_gateways/{slug}").json()
        assert ours["tools"] == ["Hooli.*"] and ours["source"] == "api" and "tool_filter" not in ours
        assert session.http.delete(one).status_code == 204
        session.call("GET", one, 404, template=GATEWAY)
        assert session.problems == []

    def test_what_the_store_cannot_keep_is_a_400_in_the_error_shape(self, session):
        body = {"name": "n", "auth_type": "arcade", "tool_filter": {"allowed_tools": ["Hooli.Ping"]}}
        refused = session.call("POST", GATEWAYS, 400, template="/v1/gateways", json=body)
        assert "auth_type" in refused["message"]
        assert session.problems == []


class TestContextualAccessAnswersArcadesShapes:
    def test_a_plugin_and_its_hooks_created_listed_changed_and_bulk_upserted(self, session):
        endpoint = {"url": "http://127.0.0.1:9/access", "failure_mode": "fail_open", "phase": "before"}
        body = {
            "name": "wire-policy",
            "plugin_type": "webhook",
            "status": "inactive",
            "webhook_config": {
                "auth": {"type": "header", "token": "t", "header_name": "x-wire"},
                "endpoints": {"access": endpoint},
            },
        }
        plugin = session.call("POST", "/v1/plugins", 201, json=body)
        try:
            assert plugin["webhook_config"]["auth"]["token"]["exists"] is True
            assert "header_name" not in plugin["webhook_config"]["auth"]
            one = f"/v1/plugins/{plugin['id']}"
            session.call("GET", one, 200, template="/v1/plugins/{plugin_id}")
            session.call("PATCH", one, 200, template="/v1/plugins/{plugin_id}", json={"description": "x"})
            session.call("GET", "/v1/plugins", 200)
            hook = plugin["hooks"][0]
            session.call("GET", f"/v1/hooks/{hook['id']}", 200, template="/v1/hooks/{hook_id}")
            session.call(
                "PATCH", f"/v1/hooks/{hook['id']}", 200, template="/v1/hooks/{hook_id}", json={"priority": 5}
            )
            session.call("GET", f"/v1/hooks?plugin_id={plugin['id']}", 200)
            configs = [
                {"plugin_id": plugin["id"], "hook_point": "tool.access", "priority": 9, "status": "inactive"},
            ]
            bulk = session.call("PATCH", "/v1/hooks/bulk", 200, json={"configs": configs})
            assert (bulk["success"], bulk["failed"]) == (1, 0)
            assert bulk["results"][0] == {
                "action": "updated",
                "hook_id": hook["id"],
                "hook_point": "tool.access",
                "plugin_id": plugin["id"],
            }
            assert session.http.get(f"/v1/hooks/{hook['id']}").json()["priority"] == 9
        finally:
            session.http.delete(f"/v1/plugins/{plugin['id']}")
        assert session.problems == []


class TestChatCompletionsAnswerArcadesChatResponse:
    def test_a_completion_that_ran_a_tool_and_one_that_did_not(self, session, llm):
        llm.arguments = {}
        body = {"model": MODEL, "messages": [{"role": "user", "content": "ping"}], "user": new_user("wire")}
        ran = session.call("POST", "/v1/chat/completions", 200, json={**body, "tools": ["Hooli.Ping"]})
        choice = ran["choices"][0]
        assert choice["tool_messages"][0]["role"] == "tool" and choice["message"]["content"]
        plain = session.call("POST", "/v1/chat/completions", 200, json=body)
        assert plain["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        generated = session.call(
            "POST",
            "/v1/chat/completions",
            200,
            json={**body, "tools": ["Hooli.Ping"], "tool_choice": "generate"},
        )
        assert generated["choices"][0]["message"]["content"] == ""
        session.call("POST", "/v1/chat/completions", 400, json={"messages": []})
        assert session.problems == []


class TestTheErrorBody:
    def test_every_error_answer_in_the_document_is_arcades_closed_error(self, session):
        document = session.http.get("/openapi.json").json()
        error = document["components"]["schemas"]["Error"]
        assert (set(error["properties"]), error["additionalProperties"]) == ({"name", "message"}, False)
        wrong = []
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                for status, answer in operation["responses"].items():
                    schema = answer.get("content", {}).get("application/json", {}).get("schema")
                    if (method, path, status) == ("get", "/v1/health", "503"):
                        assert schema == {"$ref": "#/components/schemas/HealthFailure"}
                        continue  # Arcade's health answer, saying what is wrong (§1.6)
                    if status[0] in "45" and schema != {"$ref": "#/components/schemas/Error"}:
                        wrong.append(f"{method} {path} {status}")
        assert wrong == []


class TestValetkeysExtrasWhenAsked:
    def test_the_health_of_each_service(self, session):
        body = session.http.get("/v1/health", headers=EXTRAS).json()
        assert body["healthy"] is True and body["services"]["executor"]["reachable"] is True

    def test_the_tools_name_and_the_authorization_inside_a_refused_execution(self, session):
        user = new_user("wire")
        answer = session.http.post(
            "/v1/tools/execute", json={"tool_name": SPLINES, "user_id": user}, headers=EXTRAS
        )
        assert answer.status_code == 403
        body = answer.json()
        assert body["tool_name"] == SPLINES and body["output"]["authorization"]["status"] == "pending"

    def test_a_workers_grants_and_refused_tools(self, session, worker):
        body = session.http.get("/v1/workers/wire-vault", headers=EXTRAS).json()
        assert body["grants"]["pinned"] is False and body["refused_tools"] == []
        health = session.http.get("/v1/workers/wire-vault/health", headers=EXTRAS).json()
        assert health["refused_tools"] == []


class TestEveryListRefusesAnOffsetPastItsRange:
    @pytest.mark.parametrize(
        "path",
        [
            "/v1/tools",
            "/v1/formatted_tools",
            "/v1/admin/user_connections",
            "/v1/admin/secrets",
            "/v1/workers",
            "/v1/admin/webhooks",
            "/v1/admin/webhooks/dead_letters",
            "/v1/admin/executions",
            "/v1/scheduled_tools",
            "/v1/admin/mcp_gateways",
        ],
    )
    def test_a_huge_offset_is_a_400_in_the_error_shape(self, session, path):
        for query in ("offset=9223372036854775807", "offset=-1", "limit=-1", "limit=99999999999999999999"):
            response = session.http.get(f"{path}?{query}")
            if query.startswith("limit=9"):
                assert response.status_code in (200, 400), (path, query, response.text)
                continue
            assert response.status_code == 400, (path, query, response.text)
            assert set(response.json()) == {"name", "message"}


_SECRET = "/v1/admin/secrets/{secret_key}"
_PROVIDER = "/v1/admin/auth_providers/{provider_id}"


def _hooli() -> dict[str, Any]:
    return {"provider_id": "hooli", "oauth2": {"scopes": HOOLI_SCOPES}}


def _runtime_provider(provider_id: str) -> dict[str, Any]:
    token = {"endpoint": "https://idp.example/token"}
    oauth2 = {
        "client_id": "c",
        "client_secret": "s",
        "authorize_request": {"endpoint": "https://idp.example/authorize"},
        "token_request": token,
        "refresh_request": token,
    }
    return {"id": provider_id, "description": "runtime", "type": "oauth2", "oauth2": oauth2}
