"""The gateway's OpenAPI document: FastAPI's, corrected to say what the wire really carries.

FastAPI documents a 422 with its own validation body; the gateway answers 400 in Arcade's
``{"name", "message"}`` shape instead (errors.py), wants the API key on every route but
health and this document, and answers 404 for unknown ids. The document is served at
``/openapi.json`` and, as Arcade's engine does, at ``GET /v1/swagger``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from services.gateway.arcade_schemas import SCHEMAS, ref
from services.gateway.gateway_requests import REQUEST_MODELS as GATEWAY_REQUESTS
from services.gateway.stream_schemas import CHUNK_SCHEMAS, EVENT_STREAM
from shared.contracts.hook_bodies import REQUEST_MODELS as HOOK_REQUESTS

SWAGGER_PATH = "/v1/swagger"
PUBLIC_PATHS = frozenset({"/v1/health", SWAGGER_PATH})

DESCRIPTION = (
    "Arcade's engine HTTP API, self-hosted: arcadepy, @arcadeai/arcadejs and agents-arcade work "
    "unchanged with their base URL pointed here. Send the API key in `Authorization`, with or "
    'without `Bearer`. Every error body is `{"name", "message"}`; `x-should-retry: false` '
    "marks errors a client must not retry."
)

TAGS = [
    {"name": "auth", "description": "Start an authorization, wait for it, confirm the user."},
    {"name": "tools", "description": "Tool definitions, formatted schemas, authorize and execute (§4)."},
    {"name": "workers", "description": "Remote arcade-serve workers (§6)."},
    {"name": "admin", "description": "Auth providers and user connections (§7.1, §7.3)."},
    {"name": "secrets", "description": "Tool secrets; values are never returned (§7.2)."},
    {"name": "webhooks", "description": "Signed event deliveries and their dead letters (valetkey)."},
    {"name": "executions", "description": "The execution history: immediate and scheduled runs (valetkey)."},
    {"name": "health", "description": "Liveness of the gateway and the services behind it (§5)."},
    {"name": "chat", "description": "OpenAI-compatible chat completions whose tool calls the engine runs."},
    {"name": "operations", "description": "What a client may know of the engine's configuration."},
    {"name": "gateways", "description": "Arcade's project-scoped MCP gateway paths and slug check."},
    {"name": "meta", "description": "This document."},
]

ERROR_REF = {"$ref": "#/components/schemas/Error"}
# valetkey's: a 503 of /v1/health is Arcade's health answer saying what is wrong, not an error body.
HEALTH_FAILURE: dict[str, Any] = {
    "type": "object",
    "required": ["healthy", "services", "reason"],
    "properties": {
        "healthy": {"type": "boolean", "enum": [False]},
        "services": {"type": "object", "additionalProperties": True},
        "reason": {"type": "string"},
    },
    "additionalProperties": False,
}

ERRORS = {
    "400": "malformed_request: the body or a parameter is not valid",
    "401": "unauthorized: missing or unknown API key",
    "403": "admin_key_required: an agent key on an admin route; project_forbidden: a key on another "
    "project's /v1/orgs/{org}/projects/{project}/ path; tool_denied_by_hook, hook_unavailable: a "
    "Contextual Access hook refused the execution, or failed and fails closed",
    "404": "not_found: no such id, tool or provider",
    "409": "conflict: the id is taken, or the object is defined in engine.yaml",
    "502": "provider_error, provider_unavailable: the model upstream (llm.models) failed or refused",
    "503": "service_unavailable: a service behind the gateway cannot be reached; retry after Retry-After",
}

# Operations whose body or query names something that may not exist (a provider, an
# authorization, a verification flow, a tool): they answer 404 without a path parameter.
NAMED_IN_INPUT = frozenset(
    {
        ("post", "/v1/auth/authorize"),
        ("get", "/v1/auth/status"),
        ("post", "/v1/auth/confirm_user"),
        ("post", "/v1/tools/authorize"),
        ("post", "/v1/tools/execute"),
        ("post", "/v1/tools/requirements"),
        ("post", "/v1/hooks"),
        ("patch", "/v1/hooks/bulk"),
        ("post", "/v1/chat/completions"),
    }
)
# Operations that call a model upstream (docs/arcade-compatibility.md §5).
UPSTREAM = frozenset({("post", "/v1/chat/completions")})
# Operations that can meet an object they may not change: a taken id, or one from engine.yaml.
CONFLICTING = frozenset(
    {
        ("post", "/v1/workers"),
        ("patch", "/v1/workers/{worker_id}"),
        ("delete", "/v1/workers/{worker_id}"),
        ("post", "/v1/admin/auth_providers"),
        ("patch", "/v1/admin/auth_providers/{provider_id}"),
        ("delete", "/v1/admin/auth_providers/{provider_id}"),
        ("delete", "/v1/admin/secrets/{secret_id}"),
        ("patch", "/v1/admin/webhooks/{endpoint_id}"),
        ("delete", "/v1/admin/webhooks/{endpoint_id}"),
        ("post", "/v1/admin/webhooks/{endpoint_id}/rotate_secret"),
        ("post", "/v1/gateways"),
        ("patch", "/v1/gateways/{gateway_id}"),
        ("put", "/v1/gateways/{gateway_id}"),
        ("delete", "/v1/gateways/{gateway_id}"),
        ("post", "/v1/admin/mcp_gateways"),
        ("patch", "/v1/admin/mcp_gateways/{slug}"),
        ("delete", "/v1/admin/mcp_gateways/{slug}"),
    }
)

# Arcade's schema of each operation's success body (arcade_schemas.py); the routes send exactly
# these unless the caller asks for valetkey's extras (docs/arcade-compatibility.md §1.6).
_PROVIDER = "/v1/admin/auth_providers/{provider_id}"
_GATEWAY = "/v1/gateways/{gateway_id}"
_HOOK = "/v1/hooks/{hook_id}"
_PLUGIN = "/v1/plugins/{plugin_id}"
RESPONSE_SCHEMAS: dict[tuple[str, str], tuple[str, str]] = {
    ("get", "/v1/tools"): ("200", "ToolDefinitionPage"),
    ("get", "/v1/tools/{name}"): ("200", "ToolDefinition"),
    ("get", "/v1/formatted_tools"): ("200", "FormattedToolPage"),
    ("post", "/v1/tools/authorize"): ("200", "AuthorizationResponse"),
    ("post", "/v1/tools/execute"): ("200", "ExecuteToolResponse"),
    ("post", "/v1/auth/authorize"): ("200", "AuthorizationResponse"),
    ("get", "/v1/auth/status"): ("200", "AuthorizationResponse"),
    ("get", "/v1/health"): ("200", "HealthSchema"),
    ("get", "/v1/admin/auth_providers"): ("200", "AuthProviderPage"),
    ("post", "/v1/admin/auth_providers"): ("201", "AuthProviderResponse"),
    ("get", _PROVIDER): ("200", "AuthProviderResponse"),
    ("patch", _PROVIDER): ("200", "AuthProviderResponse"),
    ("delete", _PROVIDER): ("200", "AuthProviderResponse"),
    ("get", "/v1/admin/secrets"): ("200", "SecretPage"),
    ("post", "/v1/admin/secrets/{secret_key}"): ("200", "SecretResponse"),
    ("put", "/v1/admin/secrets/{secret_key}"): ("200", "SecretResponse"),
    ("get", "/v1/admin/user_connections"): ("200", "UserConnectionPage"),
    ("get", "/v1/admin/user_connections/{connection_id}"): ("200", "UserConnectionResponse"),
    ("get", "/v1/scheduled_tools"): ("200", "ToolExecutionPage"),
    ("get", "/v1/scheduled_tools/{execution_id}"): ("200", "ScheduledToolExecution"),
    ("get", "/v1/config"): ("200", "EngineConfigResponse"),
    ("get", "/v1/workers"): ("200", "WorkerPage"),
    ("post", "/v1/workers"): ("201", "WorkerResponse"),
    ("get", "/v1/workers/{worker_id}"): ("200", "WorkerResponse"),
    ("patch", "/v1/workers/{worker_id}"): ("200", "WorkerResponse"),
    ("get", "/v1/workers/{worker_id}/health"): ("200", "WorkerHealthResponse"),
    ("post", "/v1/workers/test"): ("200", "WorkerTestResponse"),
    ("get", "/v1/workers/{worker_id}/authorize"): ("200", "WorkerAuthorizeResponse"),
    ("get", "/v1/workers/{worker_id}/tools"): ("200", "ToolDefinitionPage"),
    ("post", "/v1/chat/completions"): ("200", "ChatResponse"),
    ("get", "/v1/gateways"): ("200", "GatewayPage"),
    ("post", "/v1/gateways"): ("201", "GatewayResponse"),
    ("post", "/v1/gateways/slug"): ("200", "SlugInfoResponse"),
    ("get", _GATEWAY): ("200", "GatewayResponse"),
    ("put", _GATEWAY): ("200", "GatewayResponse"),
    ("patch", _GATEWAY): ("200", "GatewayResponse"),
    ("get", "/v1/hooks"): ("200", "HookPage"),
    ("post", "/v1/hooks"): ("201", "HookResponse"),
    ("patch", "/v1/hooks/bulk"): ("200", "BulkUpsertHooksResponse"),
    ("get", _HOOK): ("200", "HookResponse"),
    ("patch", _HOOK): ("200", "HookResponse"),
    ("get", "/v1/plugins"): ("200", "PluginPage"),
    ("post", "/v1/plugins"): ("201", "CreatePluginResponse"),
    ("get", _PLUGIN): ("200", "PluginResponse"),
    ("patch", _PLUGIN): ("200", "PluginResponse"),
}
# Answered as server-sent events when the request asks ``stream`` (docs/arcade-compatibility.md §5).
STREAMED = frozenset({("post", "/v1/chat/completions")})

# Arcade's request bodies, closed (docs/arcade-compatibility.md §4.5, §4.6): none of their fields may
# be null in Arcade's document, so none is documented nullable here (the routes read null as absent).
ARCADE_REQUESTS = frozenset(model.__name__ for model in (*GATEWAY_REQUESTS, *HOOK_REQUESTS))

JSON_OBJECT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
    }
}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def _fix_operation(method: str, path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    wanted = []
    if operation.get("parameters") or operation.get("requestBody"):
        wanted.append("400")
    if path not in PUBLIC_PATHS:
        wanted += ["401", "403", "503"]  # every such route asks a service over NATS
        operation["security"] = [{"apiKey": []}]
    if "{" in path or (method, path) in NAMED_IN_INPUT:
        wanted.append("404")
    if (method, path) in CONFLICTING:
        wanted.append("409")
    if (method, path) in UPSTREAM:
        wanted.append("502")
    for status in wanted:
        responses.setdefault(status, _error_response(ERRORS[status]))
    if (method, path) == ("get", "/v1/health") and "503" in responses:
        responses["503"]["content"] = {"application/json": {"schema": ref("HealthFailure")}}
    if "204" in responses:
        responses["204"] = {"description": "Done; no body"}
    if (method, path) in RESPONSE_SCHEMAS:
        status, name = RESPONSE_SCHEMAS[(method, path)]
        success = responses.setdefault(status, {"description": "Successful Response"})
        success["content"] = {"application/json": {"schema": ref(name)}}
        if (method, path) in STREAMED:
            success["content"]["text/event-stream"] = EVENT_STREAM


def not_nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with each optional field's ``anyOf: [<schema>, null]`` as ``<schema>``."""
    properties = {}
    for name, field in schema.get("properties", {}).items():
        options = field.get("anyOf", [])
        kept = [option for option in options if option != {"type": "null"}]
        if len(options) == 2 and len(kept) == 1:
            rest = {k: v for k, v in field.items() if k != "anyOf" and (k, v) != ("default", None)}
            field = {**kept[0], **rest}
        properties[name] = field
    return {**schema, "properties": properties}


def arcade_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document with Arcade's error shape, the API-key scheme and tag descriptions."""
    schema = get_openapi(
        title=app.title, version=app.version, description=DESCRIPTION, routes=app.routes, tags=TAGS
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.update(SCHEMAS)
    schemas.update(CHUNK_SCHEMAS)
    for name in ARCADE_REQUESTS & schemas.keys():
        schemas[name] = not_nullable(schemas[name])
    schemas["HealthFailure"] = HEALTH_FAILURE
    components["securitySchemes"] = {
        "apiKey": {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "The API key, as `<key>` or `Bearer <key>`.",
        }
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            _fix_operation(method, path, operation)
    return schema


def install(app: FastAPI) -> None:
    """Serve the corrected document at /openapi.json and GET /v1/swagger."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = arcade_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get(SWAGGER_PATH, tags=["meta"], summary="This OpenAPI document")
    async def swagger() -> JSONResponse:
        """The engine's OpenAPI document (the same as /openapi.json)."""
        return JSONResponse(openapi())
