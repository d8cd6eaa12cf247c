"""conform(): a body as Arcade's schema allows it (docs/arcade-compatibility.md §1.6)."""

from __future__ import annotations

from arcade_core.errors import ErrorKind

from services.gateway.arcade_schemas import SCHEMAS, _resolve, conform, ref
from tests.support.strict_openapi import StrictDocument

PARAMETER = {
    "name": "colour",
    "required": True,
    "description": "Which colour",
    "inferrable": True,
    "value_schema": {
        "val_type": "string",
        "enum": None,
        "inner_val_type": None,
        "description": "Which colour",
        "properties": None,
        "required_keys": None,
        "nullable": False,
    },
}
DEFINITION = {
    "name": "Paint",
    "qualified_name": "Hooli.Paint",
    "fully_qualified_name": "Hooli.Paint@1.0.0",
    "toolkit": {"name": "Hooli", "version": "1.0.0", "description": None},
    "input": {"parameters": [PARAMETER]},
    "formatted_schema": {"openai": {"parameters": {"anything": None}}},
    "requirements": {"authorization": None, "secrets": [{"key": "K", "met": True, "status_reason": None}]},
    "metadata": {"classification": "x"},
}


def test_a_field_without_a_value_is_left_out_not_sent_as_null():
    body = conform(DEFINITION, "ToolDefinition")
    assert body["toolkit"] == {"name": "Hooli", "version": "1.0.0"}
    assert body["requirements"] == {"secrets": [{"key": "K", "met": True}]}


def test_a_value_schema_keeps_arcades_three_fields_only():
    body = conform(DEFINITION, "ToolDefinition")
    assert body["input"]["parameters"][0]["value_schema"] == {"val_type": "string"}
    assert "metadata" not in body


def test_a_free_form_object_is_passed_through_untouched():
    assert conform(DEFINITION, "ToolDefinition")["formatted_schema"] == DEFINITION["formatted_schema"]


def test_asked_for_extras_the_unknown_fields_stay_but_nulls_still_go():
    body = conform(DEFINITION, "ToolDefinition", extras=True)
    assert body["metadata"] == {"classification": "x"}
    schema = body["input"]["parameters"][0]["value_schema"]
    assert schema == {"val_type": "string", "description": "Which colour", "nullable": False}


def test_the_error_kinds_hold_every_kind_arcade_core_reports():
    schema = SCHEMAS["ExecuteToolResponse"]
    kinds = _resolve(
        _resolve(_resolve(schema["properties"]["output"])["properties"]["error"])["properties"]["kind"]
    )
    assert {kind.value for kind in ErrorKind} <= set(kinds["enum"])  # and Arcade's TOOL_REQUIREMENTS_NOT_MET


def test_a_page_fits_each_item_and_keeps_its_envelope():
    page = {"items": [DEFINITION], "limit": 25, "offset": 0, "page_count": 1, "total_count": 1}
    body = conform(page, "ToolDefinitionPage")
    assert body["total_count"] == 1 and "metadata" not in body["items"][0]


def test_no_field_of_arcades_schemas_is_nullable():
    def nullable(node: object) -> bool:
        if isinstance(node, dict):
            return bool(node.get("nullable")) or any(nullable(v) for v in node.values())
        return isinstance(node, list) and any(nullable(v) for v in node)

    assert not nullable(SCHEMAS)


def test_the_strict_check_reports_a_null_and_an_unknown_field_and_passes_a_conformed_body():
    operation = {"responses": {"200": {"content": {"application/json": {"schema": ref("ToolDefinition")}}}}}
    document = StrictDocument({"paths": {"/t": {"get": operation}}, "components": {"schemas": SCHEMAS}})
    problems = document.problems("get", "/t", 200, DEFINITION)
    assert any("None is not of type" in p for p in problems)
    assert any("'metadata' was unexpected" in p for p in problems)
    assert document.problems("get", "/t", 200, conform(DEFINITION, "ToolDefinition")) == []
