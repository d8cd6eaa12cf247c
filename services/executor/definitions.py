"""Tool names and tool definitions, as pure functions over JSON-shaped dicts.

The worker speaks arcade-core's ``ToolDefinition`` JSON (reference §9.4); the
engine API answers with Arcade's ``ToolResponse`` (§4.1) and with the OpenAI and
Anthropic function formats (§4.7). Nothing here does I/O, so the gateway and the
executor can share it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.errors import BadRequest, NotFound

TokenStatus = Literal["not_started", "pending", "completed", "failed"]

# Toolkit names are normalised PascalCase; tool names are PascalCase for
# arcade-tdk tools but may contain "_" (remote MCP tools such as ``ping_probe``).
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class ToolName:
    """A parsed tool name: ``toolkit``, ``tool`` and an optional ``version``."""

    toolkit: str
    tool: str
    version: str | None = None

    @property
    def qualified(self) -> str:
        """``Toolkit.Tool``, as spelt by the caller."""
        return f"{self.toolkit}.{self.tool}"


def parse_tool_name(name: str) -> ToolName:
    """Parse ``Toolkit.Tool`` or ``Toolkit_Tool``, either with ``@version``.

    ``Toolkit_Tool`` is split at the first ``_``; :func:`resolve` tries the other
    splits against a catalog.

    Args:
        name: The name a client sent.

    Returns:
        The parsed name (case preserved).

    Raises:
        BadRequest: The name has no toolkit/tool separator or an empty part.
    """
    base, at, version = name.strip().partition("@")
    separator = "." if "." in base else "_"
    toolkit, sep, tool = base.partition(separator)
    if not sep or (at and not version) or not _PART.match(toolkit) or not _PART.match(tool):
        raise BadRequest(f"failed to parse tool name {name}")
    return ToolName(toolkit, tool, version or None)


def _candidates(name: str) -> list[ToolName]:
    """Every reading of ``name``: the parsed one first, then the later ``_`` splits."""
    first = parse_tool_name(name)
    base = name.strip().partition("@")[0]
    if "." in base:
        return [first]
    return [
        ToolName(base[:i], base[i + 1 :], first.version)
        for i, char in enumerate(base)
        if char == "_" and _PART.match(base[:i]) and _PART.match(base[i + 1 :])
    ]


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Order versions numerically where possible (``1.10.0`` after ``1.9.0``)."""
    parts = re.split(r"[.+-]", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def resolve(name: str, catalog: Iterable[Mapping[str, Any]]) -> Mapping[str, Any]:
    """Find the definition a client's tool name refers to, case-insensitively.

    Args:
        name: ``Toolkit.Tool`` or ``Toolkit_Tool``, optionally ``@version``.
        catalog: Worker (§9.4) or engine (§4.1) definitions.

    Returns:
        The matching definition; without a version, the highest toolkit version.

    Raises:
        BadRequest: The name cannot be parsed.
        NotFound: No definition matches.
    """
    definitions = list(catalog)
    for candidate in _candidates(name):
        matches = [d for d in definitions if _matches(d, candidate)]
        if matches:
            return max(matches, key=lambda d: _version_key(str(d["toolkit"].get("version") or "")))
    raise NotFound(f"tool {name} not found")


def _matches(definition: Mapping[str, Any], wanted: ToolName) -> bool:
    toolkit = definition["toolkit"]
    if str(toolkit["name"]).lower() != wanted.toolkit.lower():
        return False
    if str(definition["name"]).lower() != wanted.tool.lower():
        return False
    return wanted.version is None or wanted.version == toolkit.get("version")


@dataclass(frozen=True)
class RequirementsStatus:
    """What the executor knows about a tool's requirements for one request.

    Attributes:
        provider_active: The auth provider the tool needs is configured and enabled.
        token_status: The user's token state; None when no ``user_id`` was given.
        secret_keys: Names of the secrets that are set (compared case-insensitively).
        provider_status_reason: Why the provider is inactive, if it is.
    """

    provider_active: bool = False
    token_status: TokenStatus | None = None
    secret_keys: frozenset[str] = frozenset()
    provider_status_reason: str | None = None


def to_engine_definition(
    worker_def: Mapping[str, Any], *, requirements_status: RequirementsStatus
) -> dict[str, Any]:
    """Turn a worker definition (§9.4) into the engine's ``ToolResponse`` (§4.1).

    Args:
        worker_def: One item of ``GET /worker/tools``.
        requirements_status: Provider, token and secret state for this request.

    Returns:
        The engine definition, with ``fully_qualified_name`` = ``Toolkit.Tool@version``.
    """
    toolkit = worker_def["toolkit"]
    qualified = f"{toolkit['name']}.{worker_def['name']}"
    result: dict[str, Any] = {
        "name": worker_def["name"],
        "qualified_name": qualified,
        "fully_qualified_name": f"{qualified}@{toolkit.get('version') or ''}".rstrip("@"),
        "description": worker_def.get("description"),
        "toolkit": {k: toolkit.get(k) for k in ("name", "description", "version")},
        "input": {"parameters": list(worker_def.get("input", {}).get("parameters", []))},
        "output": worker_def.get("output"),
        "requirements": _requirements(worker_def.get("requirements") or {}, requirements_status),
    }
    for optional in ("metadata", "deprecation_message"):
        if worker_def.get(optional) is not None:
            result[optional] = worker_def[optional]
    return result


def _requirements(reqs: Mapping[str, Any], status: RequirementsStatus) -> dict[str, Any]:
    # agents-arcade decides "needs auth" by truthiness: no auth must be None, never {}.
    auth = _authorization(reqs.get("authorization"), status)
    present = {key.lower() for key in status.secret_keys}
    secrets = [
        {
            "key": item["key"],
            "met": item["key"].lower() in present,
            "status_reason": None if item["key"].lower() in present else f"secret not found: {item['key']}",
        }
        for item in reqs.get("secrets") or []
    ]
    auth_met = auth is None or (auth["status"] == "active" and auth.get("token_status") == "completed")
    return {
        "met": auth_met and all(s["met"] for s in secrets),
        "authorization": auth,
        "secrets": secrets,
    }


def _authorization(auth: Mapping[str, Any] | None, status: RequirementsStatus) -> dict[str, Any] | None:
    if not auth:
        return None
    # arcade-tdk's OAuth2(id=...) leaves provider_id None and GitHub() leaves id
    # None; the engine shows one configured provider, so each fills the other.
    result: dict[str, Any] = {
        "id": auth.get("id") or auth.get("provider_id"),
        "provider_id": auth.get("provider_id") or auth.get("id"),
        "provider_type": auth.get("provider_type") or "oauth2",
        "oauth2": {"scopes": list((auth.get("oauth2") or {}).get("scopes") or [])},
        "status": "active" if status.provider_active else "inactive",
        "status_reason": status.provider_status_reason,
    }
    if status.token_status is not None:
        result["token_status"] = status.token_status
    return result


_JSON_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "json": "object",
    "array": "array",
}


def _value_schema(vs: Mapping[str, Any]) -> dict[str, Any]:
    """Non-strict JSON Schema for an arcade ``value_schema`` (no null unions)."""
    if vs["val_type"] == "array":
        items: dict[str, Any] = {"type": _JSON_TYPES[vs.get("inner_val_type") or "string"]}
        if vs.get("inner_properties") is not None:
            items = _object_schema(vs["inner_properties"], vs.get("inner_required_keys"))
        elif vs.get("enum"):
            items["enum"] = list(vs["enum"])  # enum of an array applies to its items
        return {"type": "array", "items": items}
    if vs["val_type"] == "json" and vs.get("properties") is not None:
        return _object_schema(vs["properties"], vs.get("required_keys"))
    schema: dict[str, Any] = {"type": _JSON_TYPES[vs["val_type"]]}
    if vs.get("enum"):
        schema["enum"] = list(vs["enum"])
    return schema


def _object_schema(props: Mapping[str, Any], required: list[str] | None) -> dict[str, Any]:
    properties = {}
    for name, field in props.items():
        properties[name] = _value_schema(field)
        if field.get("description"):
            properties[name]["description"] = field["description"]
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def parameters_schema(defn: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a tool's inputs (an object of its parameters)."""
    return _parameters_schema(defn)


def _parameters_schema(defn: Mapping[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in defn.get("input", {}).get("parameters", []):
        properties[param["name"]] = _value_schema(param["value_schema"])
        if param.get("description"):
            properties[param["name"]]["description"] = param["description"]
        if param.get("required"):
            required.append(param["name"])
    return {"type": "object", "properties": properties, "required": required}


def function_name(defn: Mapping[str, Any]) -> str:
    """The LLM-facing name ``Toolkit_Tool`` (agents-arcade relies on this exact form)."""
    return f"{defn['toolkit']['name']}_{defn['name']}"


def to_openai(defn: Mapping[str, Any]) -> dict[str, Any]:
    """Format a definition as a non-strict OpenAI function tool.

    Args:
        defn: A worker or engine definition.

    Returns:
        ``{"type": "function", "function": {"name", "description", "parameters"}}``.
    """
    return {
        "type": "function",
        "function": {
            "name": function_name(defn),
            "description": defn.get("description") or "",
            "parameters": _parameters_schema(defn),
        },
    }


def to_anthropic(defn: Mapping[str, Any]) -> dict[str, Any]:
    """Format a definition as an Anthropic tool.

    Args:
        defn: A worker or engine definition.

    Returns:
        ``{"name", "description", "input_schema"}``.
    """
    return {
        "name": function_name(defn),
        "description": defn.get("description") or "",
        "input_schema": _parameters_schema(defn),
    }


def public_output(output: Mapping[str, Any] | None, *, include_stacktrace: bool) -> dict[str, Any] | None:
    """A worker's ``output`` as the engine returns it: ``stacktrace`` removed unless asked.

    Args:
        output: ``ToolCallResponse.output`` from a source.
        include_stacktrace: The caller sent ``include_error_stacktrace: true``.

    Returns:
        A copy of ``output`` (None stays None).
    """
    if output is None:
        return None
    result = dict(output)
    if result.get("error") is not None and not include_stacktrace:
        result["error"] = {k: v for k, v in result["error"].items() if k != "stacktrace"}
    return result
