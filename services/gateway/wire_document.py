"""The gateway's OpenAPI document read the way a strict generated client reads it.

OpenAPI 3.0 marks a field that may be ``null`` with ``nullable: true``; JSON Schema says the same
with ``type: [<type>, "null"]``. Every other field may not be ``null``, and an object whose schema
says ``additionalProperties: false`` may carry no field it does not declare: what openapi-generator's
strict clients refuse (docs/arcade-compatibility.md §1.6). Used by the gateway's response check
and by the wire tests.
"""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

# The schema of every error answer (docs/arcade-compatibility.md §1.4).
ERROR_SCHEMA = {"$ref": "#/components/schemas/Error"}


def as_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable`` as JSON Schema's ``type: [t, "null"]``; everything else as is."""
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: as_json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False) and isinstance(converted.get("type"), str):
        converted["type"] = [converted["type"], "null"]
        if "enum" in converted:
            converted["enum"] = [*converted["enum"], None]
    return converted


def describe(error: ValidationError) -> str:
    """Where and how a body breaks its schema, naming fields but never quoting a value."""
    where = "/" + "/".join(map(str, error.absolute_path))
    if error.validator == "additionalProperties":
        declared = set(error.schema.get("properties", {}))
        fields = error.instance if isinstance(error.instance, dict) else {}
        extra = sorted(k for k in fields if k not in declared)
        return f"at {where}: fields the schema does not declare: {', '.join(extra)}"
    if error.validator == "required":
        return f"at {where}: {error.message}"  # names the missing field only
    if error.validator == "type":
        return f"at {where}: {type(error.instance).__name__} where the schema says {error.validator_value}"
    return f"at {where}: breaks '{error.validator}'"


class WireDocument:
    """The response schemas of one OpenAPI document, ready to check bodies."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.paths: dict[str, Any] = document["paths"]
        self._components = as_json_schema(copy.deepcopy(document.get("components", {})))
        self._validators: dict[tuple[str, str, int], Draft202012Validator | None] = {}

    def response_schema(self, method: str, path: str, status: int) -> dict[str, Any] | None:
        """The documented JSON schema of that answer; the error schema for an undocumented error;
        None when the operation or a success answer is not documented."""
        operation = self.paths.get(path, {}).get(method.lower())
        if operation is None:
            return None
        answer = operation["responses"].get(str(status)) or operation["responses"].get("default") or {}
        schema = answer.get("content", {}).get("application/json", {}).get("schema")
        if schema is None and status >= 400:
            schema = ERROR_SCHEMA
        return as_json_schema(schema) if schema is not None else None

    def validator(self, method: str, path: str, status: int) -> Draft202012Validator | None:
        key = (method, path, status)
        if key not in self._validators:
            schema = self.response_schema(method, path, status)
            root = None if schema is None else {**schema, "components": self._components}
            self._validators[key] = None if root is None else Draft202012Validator(root)
        return self._validators[key]

    def problems(self, method: str, path: str, status: int, body: Any) -> list[str]:
        """Every way ``body`` breaks the documented schema of that answer (none if undocumented)."""
        validator = self.validator(method, path, status)
        if validator is None:
            return []
        return [describe(error) for error in validator.iter_errors(body)]
