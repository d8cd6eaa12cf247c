"""Arcade's JSON written from the services' typed results: the exact bytes the HTTP API answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.executor import domain
from services.gateway.wire import authorization_body, execution_response
from shared.contracts.authorization import Authorization, AuthorizationContext

PENDING = Authorization(id="ac_1", status="pending", url="https://auth.test/a?s=1", scopes=["x"], user_id="u")
RUN = domain.Run("te_1", "tc_1", "Hooli.Ping", 12.5, datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))


def as_sent(model) -> dict:
    """What arrives over NATS: the contract's JSON, nulls included."""
    return json.loads(model.model_dump_json())


class TestAuthorization:
    def test_auth_routes_leave_absent_fields_out_and_repeat_the_url(self):
        body = authorization_body(as_sent(PENDING))
        assert json.dumps(body) == json.dumps(
            {
                "id": "ac_1",
                "status": "pending",
                "url": "https://auth.test/a?s=1",
                "scopes": ["x"],
                "user_id": "u",
                "authorization_url": "https://auth.test/a?s=1",
            }
        )

    def test_nulls_inside_the_context_are_left_out_too(self):
        done = Authorization(status="completed", context=AuthorizationContext(token=None, user_info={"a": 1}))
        assert authorization_body(as_sent(done))["context"] == {"user_info": {"a": 1}}

    def test_a_failed_authorizations_reason_is_sent_only_to_a_caller_asking_for_extras(self):
        failed = as_sent(Authorization(id="ac_1", status="failed", failure_reason="access_denied"))
        assert authorization_body(failed) == {"id": "ac_1", "status": "failed", "scopes": []}
        assert authorization_body(failed, extras=True)["failure_reason"] == "access_denied"


class TestExecution:
    def test_a_tool_that_ran_answers_200_with_arcades_fields_in_order(self):
        response = {
            "execution_id": "tc_9",
            "success": True,
            "duration": 3,
            "output": {"value": 7, "logs": []},
        }
        status, body = execution_response(as_sent(domain.ran(RUN, response, include_stacktrace=False)))
        assert status == 200
        assert json.dumps(body) == json.dumps(
            {
                "id": "te_1",
                "execution_id": "tc_9",
                "execution_type": "immediate",
                "duration": 3,
                "finished_at": "2030-01-02T03:04:05Z",
                "status": "completed",
                "success": True,
                "output": {"value": 7, "logs": []},
            }
        )

    def test_a_tool_that_failed_answers_its_error_and_no_value(self):
        error = {"message": "no", "kind": "TOOL_RUNTIME_FATAL", "can_retry": False}
        response = {"execution_id": "tc_9", "success": False, "output": {"error": error}}
        status, body = execution_response(as_sent(domain.ran(RUN, response, include_stacktrace=False)))
        assert status == 200 and body["duration"] == 12.5
        assert (body["status"], body["success"]) == ("failed", False)
        assert body["output"] == {"error": error, "logs": []}

    def test_the_tools_name_is_an_extra(self):
        response = {"execution_id": "tc_9", "success": True, "output": {"value": 7}}
        _, body = execution_response(
            as_sent(domain.ran(RUN, response, include_stacktrace=False)), extras=True
        )
        assert body["tool_name"] == "Hooli.Ping"

    def test_an_authorization_required_is_a_403_in_the_error_shape(self):
        status, body = execution_response(as_sent(domain.authorization_required(RUN, PENDING)))
        assert status == 403
        assert body == {
            "name": "tool_authorization_required",
            "message": "tool Hooli.Ping needs authorization by the user; open the url to grant it",
        }

    def test_asked_for_extras_the_403_carries_the_authorization_to_open(self):
        status, body = execution_response(as_sent(domain.authorization_required(RUN, PENDING)), extras=True)
        assert status == 403
        assert list(body)[:3] == ["name", "message", "id"]
        assert body["name"] == "tool_authorization_required"
        assert body["message"] == "tool Hooli.Ping needs authorization by the user; open the url to grant it"
        assert body["output"] == {
            "authorization": authorization_body(as_sent(PENDING), extras=True),
            "logs": [],
        }
        assert (body["status"], body["success"], body["execution_id"]) == ("failed", False, "tc_1")

    def test_a_missing_secret_answers_403_naming_the_key(self):
        status, body = execution_response(as_sent(domain.secret_missing(RUN, "API_KEY")), extras=True)
        assert status == 403 and body["name"] == "tool_requirements_not_met"
        error = {
            "message": "secret not found: API_KEY",
            "kind": "TOOL_REQUIREMENTS_NOT_MET",
            "can_retry": False,
        }
        assert body["output"] == {"error": error, "logs": []}
