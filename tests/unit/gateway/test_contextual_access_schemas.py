"""A plugin's and a hook's views as Arcade's ``PluginResponse`` and ``HookResponse``
(docs/arcade-compatibility.md §4.6)."""

from __future__ import annotations

from typing import Any

from services.executor.hook_admin import plugin_view
from services.gateway.arcade_schemas import SCHEMAS, conform, ref
from tests.support.strict_openapi import StrictDocument

HOOK = {
    "id": "h1",
    "name": "policy access",
    "plugin_id": "p1",
    "hook_point": "tool.access",
    "phase": "before",
    "priority": 0,
    "status": "active",
    "failure_mode": "fail_closed",
    "cache_enabled": False,
    "timeout_ms": 2000,
    "created_at": "2026-12-01T10:00:00+00:00",
    "updated_at": "2026-12-01T10:00:00+00:00",
    "version": 1,
}
PLUGIN = {
    "id": "p1",
    "name": "policy",
    "description": None,
    "plugin_type": "webhook",
    "status": "active",
    "retry": {"enabled": False},
    "webhook_config": {
        "auth": {"type": "header", "header_name": "x-secret", "client_cert": None},
        "endpoints": {"access": {"url": "https://policy.example/access", "timeout_ms": 2000}},
        "health_check_path": None,
    },
    "sealed_token": "sealed",
    "created_at": "2026-12-01T10:00:00+00:00",
    "updated_at": "2026-12-01T10:00:00+00:00",
    "version": 1,
}


def _problems(body: Any, schema_name: str) -> list[str]:
    operation = {"responses": {"200": {"content": {"application/json": {"schema": ref(schema_name)}}}}}
    document = StrictDocument({"paths": {"/p": {"get": operation}}, "components": {"schemas": SCHEMAS}})
    return document.problems("get", "/p", 200, body)


def test_a_plugins_view_conformed_passes_the_strict_check_without_our_header_name():
    view = plugin_view(PLUGIN, "acme")
    assert any("header_name" in p for p in _problems(view, "PluginResponse"))
    body = conform(view, "PluginResponse")
    assert _problems(body, "PluginResponse") == []
    auth = body["webhook_config"]["auth"]
    assert auth == {"type": "header", "token": {"binding": "project", "editable": True, "exists": True}}
    assert conform(view, "PluginResponse", extras=True)["webhook_config"]["auth"]["header_name"] == "x-secret"


def test_a_created_plugin_carries_its_hooks_and_each_hook_is_arcades():
    created = conform({**plugin_view(PLUGIN, "acme"), "hooks": [HOOK]}, "CreatePluginResponse")
    assert _problems(created, "CreatePluginResponse") == [] and created["hooks"] == [HOOK]
    assert _problems(HOOK, "HookResponse") == []
