"""Arcade's schemas of the error body, the MCP gateway paths, Contextual Access, chat completions and
the worker test and authorize answers, field by field (part of arcade_schemas.SCHEMAS).

Written by us from the facts of Arcade's published API reference (docs/arcade-compatibility.md
§1.4, §4.4 to §4.6, §5): the field names, their types, and which are required. As everywhere in it,
no field is nullable; ``Choice.logprobs`` is Arcade's one untyped field.
"""

from __future__ import annotations

from typing import Any

from services.gateway.schema_kit import (
    ANY,
    BINDING_TYPE,
    BOOLEAN,
    INTEGER,
    STRING,
    STRINGS,
    array,
    closed,
    page,
    ref,
)

_BINDING = closed({"id": STRING, "type": BINDING_TYPE})
_ACTIVE = {"type": "string", "enum": ["active", "inactive"]}
_FAILURE_MODE = {"type": "string", "enum": ["fail_closed", "fail_open"]}
_PHASE = {"type": "string", "enum": ["before", "after"]}

ERROR: dict[str, Any] = {
    **closed(
        {
            "name": {"type": "string", "description": "snake_case code, e.g. malformed_request"},
            "message": STRING,
        },
        "name",
        "message",
    ),
    "title": "Error",
}

_GATEWAYS: dict[str, dict[str, Any]] = {
    "GatewayToolFilter": closed(
        {
            "allowed_tools": STRINGS,
            "discovery": closed(
                {"allowed_classes": STRINGS, "enabled": BOOLEAN, "pinned_asset_keys": STRINGS}
            ),
        }
    ),
    "GatewayResponse": closed(
        {
            "allowed_passthrough_headers": STRINGS,
            "auth_type": STRING,
            "binding": _BINDING,
            "consent_skip_client_ids": STRINGS,
            "created_at": STRING,
            "description": STRING,
            "id": STRING,
            "instructions": STRING,
            "name": STRING,
            "slug": STRING,
            "status": STRING,
            "tool_filter": ref("GatewayToolFilter"),
            "updated_at": STRING,
            "user_source_id": STRING,
        }
    ),
    "GatewayPage": page(ref("GatewayResponse")),
    "SlugInfoResponse": closed({"available": BOOLEAN}, "available"),
}

_WEBHOOK_ENDPOINT = closed(
    {"cache_enabled": BOOLEAN, "cache_ttl_ms": INTEGER, "timeout_ms": INTEGER, "url": STRING}
)
_PLUGIN_FIELDS: dict[str, Any] = {
    "binding": _BINDING,
    "created_at": STRING,
    "created_by": STRING,
    "description": STRING,
    "health_status": STRING,
    "id": STRING,
    "name": STRING,
    "plugin_type": STRING,
    "retry": closed(
        {
            "backoff": STRING,
            "base_delay_ms": INTEGER,
            "enabled": BOOLEAN,
            "max_attempts": INTEGER,
            "retry_on": STRINGS,
        }
    ),
    "status": _ACTIVE,
    "updated_at": STRING,
    "updated_by": STRING,
    "version": INTEGER,
    "webhook_config": closed(
        {
            "auth": closed(
                {
                    "ca_cert": STRING,
                    "client_cert_configured": BOOLEAN,
                    "client_key_configured": BOOLEAN,
                    "token": closed(
                        {"binding": BINDING_TYPE, "editable": BOOLEAN, "exists": BOOLEAN, "value": STRING}
                    ),
                    "type": STRING,
                }
            ),
            "endpoints": closed(
                {"access": _WEBHOOK_ENDPOINT, "post": _WEBHOOK_ENDPOINT, "pre": _WEBHOOK_ENDPOINT}
            ),
            "health_check_path": STRING,
        }
    ),
}

_CONTEXTUAL_ACCESS: dict[str, dict[str, Any]] = {
    "HookResponse": closed(
        {
            "cache_enabled": BOOLEAN,
            "cache_ttl_ms": INTEGER,
            "created_at": STRING,
            "failure_mode": _FAILURE_MODE,
            "hook_point": STRING,
            "id": STRING,
            "name": STRING,
            "phase": _PHASE,
            "plugin_id": STRING,
            "priority": INTEGER,
            "status": _ACTIVE,
            "timeout_ms": INTEGER,
            "updated_at": STRING,
            "version": INTEGER,
        }
    ),
    "HookPage": page(ref("HookResponse")),
    "BulkUpsertHooksResponse": closed(
        {
            "failed": INTEGER,
            "results": array(
                closed(
                    {
                        "action": STRING,
                        "error": STRING,
                        "hook_id": STRING,
                        "hook_point": STRING,
                        "plugin_id": STRING,
                    }
                )
            ),
            "success": INTEGER,
        }
    ),
    "PluginResponse": closed(_PLUGIN_FIELDS),
    "CreatePluginResponse": closed({**_PLUGIN_FIELDS, "hooks": array(ref("HookResponse"))}),
    "PluginPage": page(ref("PluginResponse")),
}

_CHAT: dict[str, dict[str, Any]] = {
    "ChatToolCall": closed(
        {
            "id": STRING,
            "type": {"type": "string", "enum": ["function"]},
            "function": closed({"arguments": STRING, "name": STRING}),
        }
    ),
    "ChatMessage": closed(
        {
            "content": STRING,
            "role": STRING,
            "name": STRING,
            "tool_call_id": STRING,
            "tool_calls": array(ref("ChatToolCall")),
        },
        "content",
        "role",
    ),
    "Choice": closed(
        {
            "finish_reason": STRING,
            "index": INTEGER,
            "logprobs": ANY,
            "message": ref("ChatMessage"),
            "tool_authorizations": array(ref("AuthorizationResponse")),
            "tool_messages": array(ref("ChatMessage")),
        }
    ),
    "Usage": closed({"completion_tokens": INTEGER, "prompt_tokens": INTEGER, "total_tokens": INTEGER}),
    "ChatResponse": closed(
        {
            "id": STRING,
            "choices": array(ref("Choice")),
            "created": INTEGER,
            "model": STRING,
            "object": STRING,
            "system_fingerprint": STRING,
            "usage": ref("Usage"),
        }
    ),
}

_WORKERS: dict[str, dict[str, Any]] = {
    "WorkerTestResponse": closed(
        {
            "message": STRING,
            "serverInfo": closed({"description": STRING, "name": STRING, "version": STRING}),
            "success": BOOLEAN,
        }
    ),
    "WorkerAuthorizeResponse": closed(
        {
            "next_uri": STRING,
            "scopes": STRINGS,
            "status": STRING,
            "url": STRING,
            "user_id": STRING,
            "worker_id": STRING,
        },
        "scopes",
        "status",
        "user_id",
        "worker_id",
    ),
}

ADMIN_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": ERROR,
    **_GATEWAYS,
    **_CONTEXTUAL_ACCESS,
    **_CHAT,
    **_WORKERS,
}
