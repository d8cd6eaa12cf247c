"""An MCP server's ``tools/list`` entries as arcade-core ``ToolDefinition`` dicts, and back for the answer.

An MCP tool joins the catalog as ``Toolkit.name``: the toolkit is the worker's (engine.yaml or the
admin API), the name is the server's own, unchanged, so ``tools/call`` gets exactly what the server
listed. A name the engine's grammar cannot carry (a dot, a slash, a space) is left out and logged.
The input schema (JSON Schema) becomes Arcade parameters: scalar types as they are, objects as
``json`` with their properties, arrays with their item type, ``anyOf``/``oneOf`` with ``null`` as a
nullable value of the other branch, local ``$ref`` followed; anything else is ``json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from arcade_core.schema import ToolDefinition

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_SCALARS = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}
_DEPTH = 8


def valid_tool_name(name: str) -> bool:
    """Whether an MCP tool name can be an engine tool name as it is."""
    return bool(_NAME.match(name))


def from_mcp_tool(tool: Mapping[str, Any], toolkit: str, description: str) -> dict[str, Any]:
    """One MCP ``Tool`` (its JSON, camelCase keys) as a worker-format definition under ``toolkit``.

    Raises:
        ValueError: The tool's name is not a valid engine tool name, or its schema is unusable.
    """
    name = str(tool.get("name") or "")
    if not valid_tool_name(name):
        raise ValueError(f"tool name {name!r} is not Toolkit.Tool material")
    schema = tool.get("inputSchema") or {}
    definition = {
        "name": name,
        "fully_qualified_name": f"{toolkit}.{name}",
        "description": str(tool.get("description") or tool.get("title") or name),
        "toolkit": {"name": toolkit, "description": description, "version": None},
        "input": {"parameters": _parameters(schema)},
        "output": {"description": None, "available_modes": ["value", "error"], "value_schema": None},
        "requirements": {},
    }
    return ToolDefinition.model_validate(definition).model_dump(mode="json", by_alias=True)


def _parameters(schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required") or [])
    defs = schema.get("$defs") or schema.get("definitions") or {}
    parameters = []
    for name, prop in (schema.get("properties") or {}).items():
        value_schema = _value_schema(prop, defs, 0)
        parameters.append(
            {
                "name": name,
                "required": name in required,
                "description": value_schema.pop("description", None),
                "value_schema": value_schema,
                "inferrable": True,
            }
        )
    return parameters


def _resolved(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")):
        target = defs.get(ref.rsplit("/", 1)[-1], {})
        return {**target, **{k: v for k, v in prop.items() if k != "$ref"}}
    return prop


def _branch(prop: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    """The one non-null branch of an ``anyOf``/``oneOf`` (or a ``type`` list), and whether null is allowed."""
    for key in ("anyOf", "oneOf"):
        branches = prop.get(key)
        if isinstance(branches, list):
            others = [b for b in branches if isinstance(b, Mapping) and b.get("type") != "null"]
            if len(others) == 1:
                merged = {**others[0], **{k: v for k, v in prop.items() if k != key}}
                return merged, len(others) < len(branches)
    kind = prop.get("type")
    if isinstance(kind, list):
        others = [k for k in kind if k != "null"]
        if len(others) == 1:
            return {**prop, "type": others[0]}, len(others) < len(kind)
    return prop, False


def _value_schema(raw: Mapping[str, Any], defs: Mapping[str, Any], depth: int) -> dict[str, Any]:
    prop, nullable = _branch(_resolved(raw, defs))
    prop = _resolved(prop, defs)
    kind = prop.get("type")
    schema: dict[str, Any] = {"val_type": _SCALARS.get(kind, "json") if isinstance(kind, str) else "json"}
    if kind == "array":
        items, _ = _branch(_resolved(prop.get("items") or {}, defs))
        inner = _value_schema(items, defs, depth + 1) if depth < _DEPTH else {"val_type": "json"}
        schema = {"val_type": "array", "inner_val_type": inner["val_type"]}
        if inner.get("properties") is not None:
            schema["inner_properties"] = inner["properties"]
            schema["inner_required_keys"] = inner.get("required_keys")
        if inner.get("enum"):
            schema["enum"] = inner["enum"]
    elif schema["val_type"] == "json" and isinstance(prop.get("properties"), Mapping) and depth < _DEPTH:
        schema["properties"] = {k: _value_schema(v, defs, depth + 1) for k, v in prop["properties"].items()}
        schema["required_keys"] = list(prop.get("required") or []) or None
    if isinstance(prop.get("enum"), list) and schema["val_type"] != "array":
        schema["enum"] = [v if isinstance(v, str) else json.dumps(v) for v in prop["enum"]]
    if prop.get("description"):
        schema["description"] = str(prop["description"])
    if nullable:
        schema["nullable"] = True
    return schema
