"""The building blocks of the OpenAPI 3.0 schemas the gateway answers with (arcade_schemas.py and
arcade_schemas_admin.py): field types, references, closed objects and the list envelope."""

from __future__ import annotations

from typing import Any

#: Request header that asks for valetkey's fields beyond Arcade's (docs/arcade-compatibility.md §1.6).
EXTRAS_HEADER = "valetkey-extras"

STRING: dict[str, Any] = {"type": "string"}
BOOLEAN: dict[str, Any] = {"type": "boolean"}
INTEGER: dict[str, Any] = {"type": "integer"}
NUMBER: dict[str, Any] = {"type": "number"}
STRINGS: dict[str, Any] = {"type": "array", "items": STRING}
STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": STRING}
FREE_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
ANY: dict[str, Any] = {}
BINDING_TYPE: dict[str, Any] = {"type": "string", "enum": ["static", "tenant", "project", "account"]}
AUTH_STATUS: dict[str, Any] = {"type": "string", "enum": ["not_started", "pending", "completed", "failed"]}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def closed(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    """An object with exactly these fields, ``required`` among them always present."""
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def page(item: dict[str, Any]) -> dict[str, Any]:
    """The list envelope the clients paginate with (docs/arcade-compatibility.md §1.3)."""
    fields = ("limit", "offset", "page_count", "total_count")
    return closed({"items": array(item), **dict.fromkeys(fields, INTEGER)}, "items", *fields)
