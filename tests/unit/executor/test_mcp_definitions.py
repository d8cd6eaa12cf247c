"""MCP ``tools/list`` entries become arcade-core definitions under the worker's toolkit."""

import pytest

from services.executor.mcp_definitions import from_mcp_tool, valid_tool_name


def params(tool):
    return {p["name"]: p for p in from_mcp_tool(tool, "Notes", "d")["input"]["parameters"]}


def test_the_name_is_the_servers_own_under_the_workers_toolkit():
    definition = from_mcp_tool({"name": "add_note", "description": "Add."}, "Notes", "Notes server")
    assert (definition["name"], definition["fully_qualified_name"]) == ("add_note", "Notes.add_note")
    assert definition["toolkit"] == {"name": "Notes", "description": "Notes server", "version": None}
    assert definition["requirements"] == {"authorization": None, "secrets": None, "metadata": None}


@pytest.mark.parametrize("name", ["a.b", "a/b", "has space", "", "_leading"])
def test_a_name_the_engine_cannot_carry_is_refused(name):
    assert not valid_tool_name(name)
    with pytest.raises(ValueError):
        from_mcp_tool({"name": name}, "Notes", "d")


def test_scalars_keep_their_type_description_and_required_flag():
    schema = {
        "type": "object",
        "properties": {
            "text": {"type": "string", "description": "What to say"},
            "times": {"type": "integer", "default": 1},
            "ratio": {"type": "number"},
            "loud": {"type": "boolean"},
        },
        "required": ["text"],
    }
    found = params({"name": "echo", "inputSchema": schema})
    assert (found["text"]["required"], found["text"]["description"]) == (True, "What to say")
    assert [found[n]["value_schema"]["val_type"] for n in ("text", "times", "ratio", "loud")] == [
        "string",
        "integer",
        "number",
        "boolean",
    ]
    assert found["times"]["required"] is False


def test_optional_values_objects_refs_arrays_and_enums_as_fastmcp_writes_them():
    schema = {
        "type": "object",
        "$defs": {
            "Point": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
            "Color": {"enum": ["red", "green"], "type": "string"},
        },
        "properties": {
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "where": {"$ref": "#/$defs/Point"},
            "color": {"$ref": "#/$defs/Color"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "points": {"type": "array", "items": {"$ref": "#/$defs/Point"}},
            "level": {"enum": [1, 2]},
            "anything": {},
        },
    }
    found = {name: p["value_schema"] for name, p in params({"name": "t", "inputSchema": schema}).items()}
    assert (found["note"]["val_type"], found["note"]["nullable"]) == ("string", True)
    assert found["where"]["val_type"] == "json"
    assert found["where"]["properties"]["x"]["val_type"] == "integer"
    assert found["where"]["required_keys"] == ["x"]
    assert (found["color"]["val_type"], found["color"]["enum"]) == ("string", ["red", "green"])
    assert (found["tags"]["val_type"], found["tags"]["inner_val_type"]) == ("array", "string")
    assert found["points"]["inner_properties"]["x"]["val_type"] == "integer"
    assert found["level"]["enum"] == ["1", "2"]
    assert found["anything"]["val_type"] == "json"


def test_a_tool_without_an_input_schema_takes_no_parameters():
    assert from_mcp_tool({"name": "ping"}, "Notes", "d")["input"]["parameters"] == []
