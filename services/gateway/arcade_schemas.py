"""Arcade's response schemas, field by field, and the one function that makes a body fit them.

Written by us from Arcade's public API reference and the field sets of its generated clients
(arcadepy, @arcadeai/arcadejs); docs/arcade-compatibility.md §1.6 says why the wire follows
them strictly. Each schema is OpenAPI 3.0: a property that may be ``null`` says
``nullable: true`` (none of Arcade's do), and ``additionalProperties: false`` marks an object
whose field set is closed. The same schemas serve ``/openapi.json`` (openapi.py) and
:func:`conform`, so what the document promises is what the routes send.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from services.gateway.arcade_schemas_admin import ADMIN_SCHEMAS
from services.gateway.schema_kit import (
    ANY,
    AUTH_STATUS,
    BINDING_TYPE,
    BOOLEAN,
    EXTRAS_HEADER,
    FREE_OBJECT,
    INTEGER,
    NUMBER,
    STRING,
    STRING_MAP,
    STRINGS,
    array,
    closed,
    page,
    ref,
)

__all__ = ["EXTRAS_HEADER", "SCHEMAS", "conform", "ref"]

_REQUEST_CONFIG = {
    "auth_header_value_format": STRING,
    "auth_method": STRING,
    "endpoint": STRING,
    "expiration_format": STRING,
    "method": STRING,
    "params": STRING_MAP,
    "request_content_type": STRING,
    "response_content_type": STRING,
    "response_map": STRING_MAP,
}
_TRIGGERS = closed({"on_token_grant": BOOLEAN, "on_token_refresh": BOOLEAN})
_SECRET_VIEW = closed(
    {"binding": BINDING_TYPE, "editable": BOOLEAN, "exists": BOOLEAN, "hint": STRING, "value": STRING}
)
_BINDING = closed({"id": STRING, "type": BINDING_TYPE})
#: arcade-core's ``ErrorKind``, every kind a tool or worker reports: Arcade's published document
#: predates the three ``NETWORK_TRANSPORT_RUNTIME_*`` kinds (a worker unreachable or timing out),
#: which Arcade's engine passes on from its workers; ours lists them (§1.6).
_TOOL_ERROR_KINDS = [
    "TOOLKIT_LOAD_FAILED",
    "TOOL_DEFINITION_BAD_DEFINITION",
    "TOOL_DEFINITION_BAD_INPUT_SCHEMA",
    "TOOL_DEFINITION_BAD_OUTPUT_SCHEMA",
    "TOOL_REQUIREMENTS_NOT_MET",
    "TOOL_RUNTIME_BAD_INPUT_VALUE",
    "TOOL_RUNTIME_BAD_OUTPUT_VALUE",
    "TOOL_RUNTIME_RETRY",
    "TOOL_RUNTIME_CONTEXT_REQUIRED",
    "TOOL_RUNTIME_FATAL",
    "UPSTREAM_RUNTIME_BAD_REQUEST",
    "UPSTREAM_RUNTIME_AUTH_ERROR",
    "UPSTREAM_RUNTIME_NOT_FOUND",
    "UPSTREAM_RUNTIME_VALIDATION_ERROR",
    "UPSTREAM_RUNTIME_RATE_LIMIT",
    "UPSTREAM_RUNTIME_SERVER_ERROR",
    "UPSTREAM_RUNTIME_UNMAPPED",
    "NETWORK_TRANSPORT_RUNTIME_TIMEOUT",
    "NETWORK_TRANSPORT_RUNTIME_UNREACHABLE",
    "NETWORK_TRANSPORT_RUNTIME_UNMAPPED",
    "UNKNOWN",
]

_TOOL_EXECUTION_FIELDS = (
    "id",
    "created_at",
    "execution_status",
    "execution_type",
    "finished_at",
    "run_at",
    "started_at",
    "tool_name",
    "toolkit_name",
    "toolkit_version",
    "updated_at",
    "user_id",
)
_TOOL_EXECUTION = dict.fromkeys(_TOOL_EXECUTION_FIELDS, STRING)

SCHEMAS: dict[str, dict[str, Any]] = {
    "ValueSchema": closed({"val_type": STRING, "enum": STRINGS, "inner_val_type": STRING}, "val_type"),
    "ToolInputParameter": closed(
        {
            "name": STRING,
            "value_schema": ref("ValueSchema"),
            "description": STRING,
            "inferrable": BOOLEAN,
            "required": BOOLEAN,
        },
        "name",
        "value_schema",
    ),
    "ToolInput": closed({"parameters": array(ref("ToolInputParameter"))}),
    "ToolkitDefinition": closed({"name": STRING, "description": STRING, "version": STRING}, "name"),
    "ToolOutputDefinition": closed(
        {"available_modes": STRINGS, "description": STRING, "value_schema": ref("ValueSchema")}
    ),
    "AuthorizationRequirement": closed(
        {
            "id": STRING,
            "oauth2": closed({"scopes": STRINGS}),
            "provider_id": STRING,
            "provider_type": STRING,
            "status": {"type": "string", "enum": ["active", "inactive"]},
            "status_reason": STRING,
            "token_status": AUTH_STATUS,
        }
    ),
    "SecretRequirement": closed({"key": STRING, "met": BOOLEAN, "status_reason": STRING}, "key"),
    "ToolRequirements": closed(
        {
            "authorization": ref("AuthorizationRequirement"),
            "met": BOOLEAN,
            "secrets": array(ref("SecretRequirement")),
        }
    ),
    "ToolDefinition": closed(
        {
            "fully_qualified_name": STRING,
            "input": ref("ToolInput"),
            "name": STRING,
            "qualified_name": STRING,
            "toolkit": ref("ToolkitDefinition"),
            "description": STRING,
            "formatted_schema": FREE_OBJECT,
            "output": ref("ToolOutputDefinition"),
            "requirements": ref("ToolRequirements"),
        },
        "fully_qualified_name",
        "input",
        "name",
        "qualified_name",
        "toolkit",
    ),
    "ToolDefinitionPage": page(ref("ToolDefinition")),
    "FormattedToolPage": page(FREE_OBJECT),
    "AuthorizationContext": closed({"token": STRING, "user_info": FREE_OBJECT}),
    "AuthorizationResponse": closed(
        {
            "id": STRING,
            "context": ref("AuthorizationContext"),
            "provider_id": STRING,
            "scopes": STRINGS,
            "status": AUTH_STATUS,
            "url": STRING,
            "user_id": STRING,
            # valetkey keeps this one beside `url` for the seed code (§2.3).
            "authorization_url": {**STRING, "description": "The same as url (docs: §2.3)."},
        }
    ),
    "ToolExecutionError": closed(
        {
            "can_retry": BOOLEAN,
            "kind": {"type": "string", "enum": _TOOL_ERROR_KINDS},
            "message": STRING,
            "additional_prompt_content": STRING,
            "developer_message": STRING,
            "extra": FREE_OBJECT,
            "retry_after_ms": INTEGER,
            "stacktrace": STRING,
            "status_code": INTEGER,
        },
        "can_retry",
        "kind",
        "message",
    ),
    "ToolLog": closed({"level": STRING, "message": STRING, "subtype": STRING}, "level", "message"),
    "ToolCallOutput": closed(
        {
            "authorization": ref("AuthorizationResponse"),
            "error": ref("ToolExecutionError"),
            "logs": array(ref("ToolLog")),
            "value": ANY,
        }
    ),
    "ExecuteToolResponse": closed(
        {
            "id": STRING,
            "duration": NUMBER,
            "execution_id": STRING,
            "execution_type": STRING,
            "finished_at": STRING,
            "output": ref("ToolCallOutput"),
            "run_at": STRING,
            "status": STRING,
            "success": BOOLEAN,
        }
    ),
    "ToolExecution": closed(_TOOL_EXECUTION),
    "ToolExecutionPage": page(ref("ToolExecution")),
    "ToolExecutionAttempt": closed(
        {
            "id": STRING,
            "finished_at": STRING,
            "output": ref("ToolCallOutput"),
            "started_at": STRING,
            "success": BOOLEAN,
            "system_error_message": STRING,
        }
    ),
    "ScheduledToolExecution": closed(
        {**_TOOL_EXECUTION, "input": FREE_OBJECT, "attempts": array(ref("ToolExecutionAttempt"))}
    ),
    "HealthSchema": closed({"healthy": BOOLEAN}),
    "AuthProviderResponse": closed(
        {
            "id": STRING,
            "binding": _BINDING,
            "created_at": STRING,
            "description": STRING,
            "oauth2": ref("OAuth2Details"),
            "provider_id": STRING,
            "status": STRING,
            "type": STRING,
            "updated_at": STRING,
        }
    ),
    "OAuth2Details": closed(
        {
            "authorize_request": closed(_REQUEST_CONFIG),
            "client_id": STRING,
            "client_secret": _SECRET_VIEW,
            "pkce": closed({"code_challenge_method": STRING, "enabled": BOOLEAN}),
            "redirect_uri": STRING,
            "refresh_request": closed(_REQUEST_CONFIG),
            "scope_delimiter": STRING,
            "token_introspection_request": closed(
                {**_REQUEST_CONFIG, "enabled": BOOLEAN, "triggers": _TRIGGERS}
            ),
            "token_request": closed(_REQUEST_CONFIG),
            "user_info_request": closed({**_REQUEST_CONFIG, "triggers": _TRIGGERS}),
        }
    ),
    "AuthProviderPage": page(ref("AuthProviderResponse")),
    "SecretResponse": closed(
        {
            "id": STRING,
            "binding": _BINDING,
            "created_at": STRING,
            "description": STRING,
            "hint": STRING,
            "key": STRING,
            "last_accessed_at": STRING,
            "updated_at": STRING,
        }
    ),
    "SecretPage": page(ref("SecretResponse")),
    "UserConnectionResponse": closed(
        {
            "id": STRING,
            "connection_id": STRING,
            "connection_status": STRING,
            "provider_description": STRING,
            "provider_id": STRING,
            "provider_type": STRING,
            "provider_user_info": ANY,
            "scopes": STRINGS,
            "user_id": STRING,
        }
    ),
    "UserConnectionPage": page(ref("UserConnectionResponse")),
    "WorkerResponse": closed(
        {
            "id": STRING,
            "binding": _BINDING,
            "enabled": BOOLEAN,
            "http": closed({"retry": INTEGER, "secret": _SECRET_VIEW, "timeout": INTEGER, "uri": STRING}),
            "managed": BOOLEAN,
            "mcp": closed(
                {
                    "headers": STRING_MAP,
                    "oauth2": closed(
                        {
                            "authorization_url": STRING,
                            "client_id": STRING,
                            "client_secret": _SECRET_VIEW,
                            "redirect_uri": STRING,
                        }
                    ),
                    "retry": INTEGER,
                    "secrets": {"type": "object", "additionalProperties": _SECRET_VIEW},
                    "timeout": INTEGER,
                    "uri": STRING,
                }
            ),
            "requirements": closed(
                {
                    "authorization": closed({"met": BOOLEAN, "oauth2": closed({"met": BOOLEAN})}),
                    "met": BOOLEAN,
                }
            ),
            "type": {"type": "string", "enum": ["http", "mcp", "unknown"]},
        }
    ),
    "WorkerPage": page(ref("WorkerResponse")),
    # Arcade's `dashboard` is never sent (docs/arcade-compatibility.md §5): its fields are not declared.
    "EngineConfigResponse": closed(
        {
            "dashboard": {"type": "object"},
            "oauth2": closed({"callback_url_template": STRING}),
            "servers": closed({"timeout_max_seconds": INTEGER}),
        }
    ),
    "WorkerHealthResponse": closed({"id": STRING, "enabled": BOOLEAN, "healthy": BOOLEAN, "message": STRING}),
    **ADMIN_SCHEMAS,
}


def _resolve(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def conform(body: Mapping[str, Any], schema_name: str, *, extras: bool = False) -> dict[str, Any]:
    """``body`` as Arcade's ``schema_name`` allows it: no ``null`` where the field is not
    nullable (the field is left out), and, unless ``extras``, no field the schema lacks (an
    extra without a value is left out too). Free-form objects pass untouched."""
    return cast(dict[str, Any], _fit(dict(body), SCHEMAS[schema_name], extras))


def _fit(value: Any, schema: Mapping[str, Any], extras: bool) -> Any:
    schema = _resolve(schema)
    if isinstance(value, list) and "items" in schema:
        return [_fit(item, schema["items"], extras) for item in value]
    if not isinstance(value, dict) or "properties" not in schema:
        return value
    properties: Mapping[str, Any] = schema["properties"]
    open_ended = extras or schema.get("additionalProperties", True) is not False
    fitted: dict[str, Any] = {}
    for name, item in value.items():
        field = properties.get(name)
        if field is None:
            if open_ended and item is not None:
                fitted[name] = item
            continue
        field = _resolve(field)
        if item is None and "type" in field and not field.get("nullable"):
            continue
        fitted[name] = _fit(item, field, extras)
    return fitted
