"""Arcade's gateway shapes over valetkey's MCP gateway store, both ways (pure).

Arcade's project-scoped gateway paths (routes/project_gateways.py) answer ``GatewayResponse`` and
take ``CreateGatewayRequest`` / ``UpdateGatewayRequest`` / ``PatchGatewayRequest``; the store
(services/executor/mcp_gateways.py, the same one ``/v1/admin/mcp_gateways`` and engine.yaml's
``mcp.gateways`` fill) keeps ``{slug, name, description, instructions, tools, auth, project}``.
docs/arcade-compatibility.md §4.5 lists what maps to what and what is refused.
"""

from __future__ import annotations

import re
from typing import Any

from shared.errors import BadRequest

#: Arcade's ``auth_type`` for each of our ``auth`` modes: ``headers`` is Arcade's headers mode (API key
#: and ``Arcade-User-ID``), ``oauth`` signs users in at the platform's own OpenID provider, as Arcade's
#: ``user_source`` does at the customer's identity provider.
AUTH_TYPES = {"headers": "arcade_header", "oauth": "user_source"}
_AUTH_OF = {arcade: ours for ours, arcade in AUTH_TYPES.items()}
ACTIVE = "active"
_SLUG_LENGTH = 63


def arcade_gateway(record: dict[str, Any]) -> dict[str, Any]:
    """Arcade's ``GatewayResponse`` of a stored gateway (its id is its slug; engine.yaml's is ``static``)."""
    static = record.get("source") == "engine.yaml"
    body: dict[str, Any] = {
        "id": record["slug"],
        "slug": record["slug"],
        "name": record.get("name") or record["slug"],
        "description": record.get("description") or "",
        "instructions": record.get("instructions") or "",
        "status": ACTIVE,
        "auth_type": AUTH_TYPES[record.get("auth") or "headers"],
        "tool_filter": {"allowed_tools": list(record.get("tools") or [])},
        "binding": {"type": "static"} if static else {"type": "project", "id": record.get("project")},
    }
    for stamp in ("created_at", "updated_at"):
        if record.get(stamp):
            body[stamp] = record[stamp]
    return body


def slug_of(name: str) -> str:
    """A slug for a gateway created with a name only: lowercase, ``-`` for anything else."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")[:_SLUG_LENGTH].rstrip("-_")
    if not slug:
        raise BadRequest(
            "failed to validate request body: slug: give a slug, or a name with letters or digits"
        )
    return slug


def create_body(body: dict[str, Any]) -> dict[str, Any]:
    """Our create body for Arcade's ``CreateGatewayRequest`` (``slug`` derived from ``name`` if absent)."""
    write = _fields(body)
    if not write.get("tools"):
        raise BadRequest("failed to validate request body: tool_filter.allowed_tools: name at least one tool")
    if "slug" not in write:
        write["slug"] = slug_of(str(write.get("name") or ""))
    return write


def replace_body(body: dict[str, Any], gateway_id: str) -> dict[str, Any]:
    """Our patch for Arcade's ``UpdateGatewayRequest``: every field, the ones left out at their default."""
    if body.get("id") not in (None, gateway_id):
        raise BadRequest("failed to validate request body: id: not the gateway of the path")
    write = _fields(body)
    if not write.get("tools"):
        raise BadRequest("failed to validate request body: tool_filter.allowed_tools: name at least one tool")
    return {"name": gateway_id, "description": "", "instructions": "", "auth": "headers", **write}


def patch_body(body: dict[str, Any]) -> dict[str, Any]:
    """Our patch for Arcade's ``PatchGatewayRequest``: the fields it names."""
    return _fields(body)


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    """The store's fields of an Arcade request body; what the store cannot keep is a 400 naming it.

    The body is a closed request model's (services/gateway/gateway_requests.py), so an unknown field
    never reaches here: the model refused it, naming it.
    """
    _refuse_unserved(body)
    write = {k: body[k] for k in ("slug", "name", "description", "instructions") if body.get(k) is not None}
    if body.get("auth_type") is not None:
        if body["auth_type"] not in _AUTH_OF:
            raise BadRequest(
                "failed to validate request body: auth_type: arcade_header or user_source "
                "(Arcade accounts, auth_type arcade, do not exist here)"
            )
        write["auth"] = _AUTH_OF[body["auth_type"]]
    tool_filter = body.get("tool_filter")
    if tool_filter is not None:
        if not isinstance(tool_filter, dict):
            raise BadRequest("failed to validate request body: tool_filter: an object")
        if tool_filter.get("allowed_tools") is not None:
            write["tools"] = tool_filter["allowed_tools"]
    return write


def _refuse_unserved(body: dict[str, Any]) -> None:
    """Arcade's settings valetkey does not serve are refused when set, never silently dropped."""
    if body.get("status") not in (None, ACTIVE):
        raise BadRequest("failed to validate request body: status: only active gateways are served here")
    for name in ("allowed_passthrough_headers", "consent_skip_client_ids"):
        if body.get(name):
            raise BadRequest(f"failed to validate request body: {name}: not supported here")
    discovery = (
        (body.get("tool_filter") or {}).get("discovery")
        if isinstance(body.get("tool_filter"), dict)
        else None
    )
    if isinstance(discovery, dict) and discovery.get("enabled"):
        raise BadRequest("failed to validate request body: tool_filter.discovery: not supported here")
