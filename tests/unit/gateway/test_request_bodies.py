"""Arcade's request bodies of the gateway paths, plugins and hooks, closed (issue #20;
docs/arcade-compatibility.md §4.5, §4.6): what the routes accept is what /openapi.json documents."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from services.gateway.app import create_app
from services.gateway.chat import stream_events
from services.gateway.gateway_requests import (
    CreateGatewayRequest,
    PatchGatewayRequest,
    SlugInfoRequest,
    UpdateGatewayRequest,
)
from services.gateway.openapi import ARCADE_REQUESTS
from services.gateway.wire_document import as_json_schema
from shared.contracts.hook_bodies import (
    BulkUpsertHooksRequest,
    CreateHookRequest,
    CreatePluginRequest,
    PatchHookRequest,
    PatchPluginRequest,
)
from shared.runtime.config import EngineConfig
from shared.runtime.settings import RuntimeSettings, Settings

TOOLS = {"allowed_tools": ["Github.CreateIssue"]}
ENDPOINT = {"url": "https://policy.example/access", "failure_mode": "fail_open", "phase": "before"}
PLUGIN = {
    "name": "policy",
    "plugin_type": "webhook",
    "description": "who may run what",
    "status": "active",
    "retry": {"enabled": True, "max_attempts": 3, "backoff": "exponential", "base_delay_ms": 100},
    "webhook_config": {"auth": {"type": "bearer", "token": "t"}, "endpoints": {"access": ENDPOINT}},
}
HOOK = {
    "plugin_id": "p1",
    "hook_point": "tool.pre",
    "name": "rewrite",
    "phase": "before",
    "failure_mode": "fail_closed",
    "priority": 10,
    "status": "active",
    "timeout_ms": 2000,
}


@cache
def document() -> dict[str, Any]:
    runtime = RuntimeSettings(development=False, api_key="gw-test-key", instance="gw-1")
    engine = EngineConfig.model_validate(
        {
            "api": {"development": False},
            "auth": {"verification": {"mode": "unsafe_skip"}},
            "security": {"bus_key": "b" * 32},
        }
    )
    return create_app(Settings(runtime=runtime, engine=engine)).openapi()


def documented_problems(name: str, body: Any) -> list[str]:
    components = as_json_schema(copy.deepcopy(document()["components"]))
    root = {"$ref": f"#/components/schemas/{name}", "components": components}
    return [error.message for error in Draft202012Validator(root).iter_errors(body)]


def refusal(model: type[BaseModel], body: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    first = caught.value.errors()[0]
    return ".".join(map(str, first["loc"])) + ": " + first["msg"]


ACCEPTED: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (
        CreateGatewayRequest,
        {
            "name": "Triage",
            "slug": "triage",
            "description": "d",
            "instructions": "i",
            "auth_type": "arcade_header",
            "status": "active",
            "tool_filter": {**TOOLS, "discovery": {"enabled": False, "allowed_classes": []}},
            "allowed_passthrough_headers": [],
            "consent_skip_client_ids": [],
            "user_source_id": "u",
        },
    ),
    (UpdateGatewayRequest, {"id": "triage", "name": "Triage", "tool_filter": TOOLS}),
    (PatchGatewayRequest, {"description": "only this"}),
    (CreatePluginRequest, PLUGIN),
    (PatchPluginRequest, {"webhook_config": {"endpoints": {"pre": {"timeout_ms": 500}}}}),
    (CreateHookRequest, HOOK),
    (CreateHookRequest, {"plugin_id": "p1", "hook_point": "tool.access"}),
    (PatchHookRequest, {"priority": 3, "cache_enabled": True, "cache_ttl_ms": 60_000}),
    (BulkUpsertHooksRequest, {"configs": [{"plugin_id": "p1", "hook_point": "tool.post", "priority": 2}]}),
    (BulkUpsertHooksRequest, {"hooks": [{"id": "h1", "status": "inactive"}, HOOK]}),
]

REFUSED: list[tuple[type[BaseModel], dict[str, Any], str]] = [
    (CreateGatewayRequest, {"name": "n", "tool_filters": TOOLS}, "tool_filters"),
    (CreateGatewayRequest, {"name": "n", "tool_filter": TOOLS, "tools": ["A.B"]}, "tools"),
    (CreateGatewayRequest, {"name": "n", "tool_filter": {"allowed_tools": "Github.*"}}, "allowed_tools"),
    (CreateGatewayRequest, {"name": "n", "tool_filter": {"discovery": {"on": True}}}, "discovery.on"),
    (PatchGatewayRequest, {"name": ""}, "name"),
    (UpdateGatewayRequest, {"id": 7, "name": "n"}, "id"),
    (CreatePluginRequest, {**PLUGIN, "plugin_type": "grpc"}, "plugin_type"),
    (CreatePluginRequest, {"name": "x", "webhook_config": {"endpoints": {}}}, "plugin_type"),
    (
        CreatePluginRequest,
        {**PLUGIN, "webhook_config": {"endpoints": {"access": {**ENDPOINT, "urll": "x"}}}},
        "access.urll",
    ),
    (PatchPluginRequest, {"retry": {"max_attempts": 11}}, "max_attempts"),
    (CreateHookRequest, {"plugin_id": "p1", "hook_point": "tool.maybe"}, "hook_point"),
    (CreateHookRequest, {**HOOK, "priorty": 1}, "priorty"),
    (PatchHookRequest, {"priority": "high"}, "priority"),
    (BulkUpsertHooksRequest, {"configs": [{"hook_point": "tool.pre"}]}, "plugin_id"),
    (BulkUpsertHooksRequest, {"configs": [{**HOOK, "id": "h1"}]}, "id"),
    (BulkUpsertHooksRequest, {"hooks": "all"}, "hooks"),
    (BulkUpsertHooksRequest, {}, "configs"),
    (BulkUpsertHooksRequest, {"configs": [], "hooks": []}, "configs"),
]


class TestTheModelsAcceptArcadesBodiesAndOurs:
    @pytest.mark.parametrize(("model", "body"), ACCEPTED, ids=lambda v: getattr(v, "__name__", ""))
    def test_a_body_of_arcades_fields_or_ours_is_accepted_and_fits_the_document(self, model, body):
        model.model_validate(body)
        assert documented_problems(model.__name__, body) == []

    def test_null_is_read_as_absent_though_the_document_never_says_nullable(self):
        assert PatchHookRequest.model_validate({"priority": None}).model_dump(exclude_none=True) == {}
        assert documented_problems("PatchHookRequest", {"priority": None}) != []


class TestAnUnknownOrMistypedFieldIsRefusedNamingIt:
    @pytest.mark.parametrize(("model", "body", "named"), REFUSED, ids=lambda v: getattr(v, "__name__", ""))
    def test_the_model_and_the_document_both_refuse_it(self, model, body, named):
        assert named in refusal(model, body)
        assert documented_problems(model.__name__, body) != []


class TestTheDocument:
    def test_every_request_body_of_the_gateway_paths_plugins_and_hooks_is_a_closed_component(self):
        operations = [
            ("/v1/gateways", "post", "CreateGatewayRequest"),
            ("/v1/gateways/{gateway_id}", "put", "UpdateGatewayRequest"),
            ("/v1/gateways/{gateway_id}", "patch", "PatchGatewayRequest"),
            ("/v1/plugins", "post", "CreatePluginRequest"),
            ("/v1/plugins/{plugin_id}", "patch", "PatchPluginRequest"),
            ("/v1/hooks", "post", "CreateHookRequest"),
            ("/v1/hooks/{hook_id}", "patch", "PatchHookRequest"),
            ("/v1/hooks/bulk", "patch", "BulkUpsertHooksRequest"),
        ]
        for path, method, name in operations:
            body = document()["paths"][path][method]["requestBody"]
            assert body["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{name}"}
        schemas = document()["components"]["schemas"]
        for name in ARCADE_REQUESTS:
            assert schemas[name]["additionalProperties"] is False, name
            assert "null" not in json.dumps(schemas[name]), name

    def test_the_slug_check_takes_arcades_slug_only(self):
        assert SlugInfoRequest.model_validate({"slug": "triage"}).slug == "triage"
        assert "slugs" in refusal(SlugInfoRequest, {"slug": "triage", "slugs": ["x"]})
        body = document()["paths"]["/v1/gateways/slug"]["post"]["requestBody"]
        schema = body["content"]["application/json"]["schema"]
        assert (schema["required"], schema["additionalProperties"]) == (["slug"], False)

    def test_our_own_fields_are_described_as_ours(self):
        schemas = document()["components"]["schemas"]
        assert "valetkey's" in schemas["BulkUpsertHooksRequest"]["properties"]["hooks"]["description"]
        assert "valetkey's" in schemas["WebhookAuthRequest"]["properties"]["header_name"]["description"]
        assert "valetkey's" in schemas["PatchHookRequest"]["properties"]["cache_enabled"]["description"]


class TestAStreamedChunkIsDocumented:
    ANSWER = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "done"},
                "tool_messages": [{"role": "tool", "content": "{}", "tool_call_id": "t1"}],
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }

    def test_the_event_stream_answer_names_the_chunk_schema(self):
        answer = document()["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]
        stream = answer["content"]["text/event-stream"]
        assert stream["x-event-data"] == {"$ref": "#/components/schemas/ChatCompletionChunk"}
        assert "ChatCompletionChunk" in stream["schema"]["description"]

    def test_every_chunk_the_gateway_streams_fits_it(self):
        events = stream_events(self.ANSWER, include_usage=True)
        assert events[-1] == "data: [DONE]\n\n"
        chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
        assert len(chunks) == 2
        for chunk in chunks:
            assert documented_problems("ChatCompletionChunk", chunk) == []
        assert documented_problems("ChatCompletionChunk", {**chunks[0], "extra": 1}) != []
