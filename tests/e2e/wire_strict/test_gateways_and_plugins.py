"""Arcade's gateway paths and its contextual access plugins and hooks answer Arcade's shapes."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

GATEWAYS = "/v1/orgs/wire-org/projects/default/gateways"
GATEWAY = "/v1/gateways/{gateway_id}"


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
