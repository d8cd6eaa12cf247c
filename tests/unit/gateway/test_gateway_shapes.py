"""Arcade's gateway shapes over the MCP gateway store, both ways (services/gateway/gateway_shapes.py,
docs/arcade-compatibility.md §4.5)."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.arcade_schemas import SCHEMAS, conform, ref
from services.gateway.gateway_shapes import arcade_gateway, create_body, patch_body, replace_body, slug_of
from shared.errors import BadRequest
from tests.support.strict_openapi import StrictDocument

STORED = {
    "slug": "github-triage",
    "name": "GitHub triage",
    "description": "Triage issues",
    "instructions": "Never close one",
    "tools": ["Github.*", "Slack.SendMessage"],
    "auth": "oauth",
    "project": "acme",
    "source": "api",
    "editable": True,
    "created_at": "2026-12-01T10:00:00+00:00",
    "updated_at": "2026-12-02T10:00:00+00:00",
}


def _problems(body: Any, schema_name: str) -> list[str]:
    operation = {"responses": {"200": {"content": {"application/json": {"schema": ref(schema_name)}}}}}
    document = StrictDocument({"paths": {"/g": {"get": operation}}, "components": {"schemas": SCHEMAS}})
    return document.problems("get", "/g", 200, body)


class TestAStoredGatewayAsArcadesGatewayResponse:
    def test_every_field_maps_and_the_answer_passes_the_strict_check(self):
        body = arcade_gateway(STORED)
        assert body == {
            "id": "github-triage",
            "slug": "github-triage",
            "name": "GitHub triage",
            "description": "Triage issues",
            "instructions": "Never close one",
            "status": "active",
            "auth_type": "user_source",
            "tool_filter": {"allowed_tools": ["Github.*", "Slack.SendMessage"]},
            "binding": {"type": "project", "id": "acme"},
            "created_at": "2026-12-01T10:00:00+00:00",
            "updated_at": "2026-12-02T10:00:00+00:00",
        }
        assert _problems(conform(body, "GatewayResponse"), "GatewayResponse") == []

    def test_an_engine_yaml_gateway_without_a_name_is_named_by_its_slug_and_bound_statically(self):
        stored = {
            "slug": "ops",
            "tools": ["*"],
            "auth": "headers",
            "project": "default",
            "source": "engine.yaml",
        }
        body = arcade_gateway(stored)
        assert (body["name"], body["auth_type"], body["binding"]) == (
            "ops",
            "arcade_header",
            {"type": "static"},
        )
        assert "created_at" not in body and _problems(body, "GatewayResponse") == []

    def test_our_own_record_fails_the_strict_check(self):
        assert any("unexpected" in p for p in _problems(STORED, "GatewayResponse"))


class TestArcadesRequestsAsTheStoresBodies:
    def test_a_create_maps_every_field(self):
        body = {
            "name": "Triage",
            "slug": "triage",
            "description": "d",
            "instructions": "i",
            "auth_type": "arcade_header",
            "status": "active",
            "tool_filter": {"allowed_tools": ["Github.ListIssues"], "discovery": {"enabled": False}},
            "allowed_passthrough_headers": [],
        }
        assert create_body(body) == {
            "slug": "triage",
            "name": "Triage",
            "description": "d",
            "instructions": "i",
            "auth": "headers",
            "tools": ["Github.ListIssues"],
        }

    def test_a_create_with_a_name_only_gets_a_slug_made_of_it(self):
        body = create_body({"name": "My GitHub Gateway!", "tool_filter": {"allowed_tools": ["Github.*"]}})
        assert body["slug"] == "my-github-gateway"
        assert slug_of("x" * 100) == "x" * 63

    def test_a_replace_puts_every_field_left_out_back_at_its_default(self):
        body = replace_body(
            {"id": "triage", "name": "T", "tool_filter": {"allowed_tools": ["A.B"]}}, "triage"
        )
        assert body == {
            "name": "T",
            "description": "",
            "instructions": "",
            "auth": "headers",
            "tools": ["A.B"],
        }

    def test_a_patch_names_only_what_it_changes(self):
        assert patch_body({"auth_type": "user_source"}) == {"auth": "oauth"}
        assert patch_body({"tool_filter": {"allowed_tools": ["A.*"]}, "name": "n"}) == {
            "name": "n",
            "tools": ["A.*"],
        }

    @pytest.mark.parametrize(
        ("body", "says"),
        [
            ({"name": "x", "tool_filter": {"allowed_tools": ["A.B"]}, "auth_type": "arcade"}, "auth_type"),
            ({"name": "x", "tool_filter": {"allowed_tools": ["A.B"]}, "status": "inactive"}, "status"),
            (
                {"name": "x", "tool_filter": {"allowed_tools": ["A.B"]}, "consent_skip_client_ids": ["c"]},
                "consent",
            ),
            (
                {
                    "name": "x",
                    "tool_filter": {"allowed_tools": ["A.B"]},
                    "allowed_passthrough_headers": ["h"],
                },
                "headers",
            ),
            (
                {"name": "x", "tool_filter": {"allowed_tools": ["A.B"], "discovery": {"enabled": True}}},
                "discovery",
            ),
            ({"name": "x"}, "allowed_tools"),
            ({"name": "!!!", "tool_filter": {"allowed_tools": ["A.B"]}}, "slug"),
        ],
    )
    def test_what_the_store_cannot_keep_is_refused_naming_it(self, body, says):
        with pytest.raises(BadRequest, match=says):
            create_body(body)

    def test_a_replace_of_another_id_is_refused(self):
        with pytest.raises(BadRequest, match="id"):
            replace_body({"id": "other", "name": "n", "tool_filter": {"allowed_tools": ["A.B"]}}, "triage")
