"""A strict client decodes every answer of a session: tools listed, read, run, failing and refused,
a scheduled execution, an authorization started, consented and polled, secrets and providers
administered, connections listed, a worker registered, read, changed and probed, health, errors.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.wire_strict import SPLINES, WORKER_SECRET
from tests.support.auth_flows import new_user
from tests.support.browser import consent_and_follow
from tests.support.client_stack import HOOLI_SCOPES
from tests.support.worker_app import running_worker

pytestmark = pytest.mark.e2e

WORKER = "/v1/workers/{worker_id}"


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
