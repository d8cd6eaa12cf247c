"""Worker definitions mapped to the engine's ToolResponse and LLM formats (§4.1, §4.7)."""

from services.executor.definitions import (
    RequirementsStatus,
    public_output,
    to_anthropic,
    to_engine_definition,
    to_openai,
)


def _param(name, val_type, required=True, **schema):
    return {
        "name": name,
        "required": required,
        "description": f"the {name}",
        "value_schema": {"val_type": val_type, "inner_val_type": None, "enum": None, **schema},
        "inferrable": True,
    }


WORKER_DEF = {
    "name": "ReticulateSplines",
    "fully_qualified_name": "Hooli.ReticulateSplines",
    "description": "Reticulate the specified number of splines.",
    "toolkit": {"name": "Hooli", "description": "Hooli", "version": "1.0.0"},
    "input": {
        "parameters": [
            _param("num_splines", "integer"),
            _param("mode", "string", required=False, enum=["fast", "slow"]),
            _param("tags", "array", required=False, inner_val_type="string", enum=["a", "b"]),
            _param("options", "json", required=False),
            _param("ratio", "number", required=False),
            _param("dry_run", "boolean", required=False),
        ]
    },
    "output": {
        "description": None,
        "available_modes": ["value", "error"],
        "value_schema": {"val_type": "json"},
    },
    "requirements": {
        "authorization": {
            "provider_id": None,
            "provider_type": "oauth2",
            "id": "hooli",
            "oauth2": {"scopes": ["scope1", "scope2"]},
        },
        "secrets": [{"key": "HOOLI_API_KEY"}],
        "metadata": None,
    },
    "deprecation_message": None,
    "metadata": None,
    "_meta": None,
}
NO_AUTH_DEF = {
    **WORKER_DEF,
    "name": "Ping",
    "requirements": {"authorization": None, "secrets": None, "metadata": None},
}


def test_engine_definition_has_qualified_and_versioned_fully_qualified_names():
    engine = to_engine_definition(WORKER_DEF, requirements_status=RequirementsStatus())
    assert engine["qualified_name"] == "Hooli.ReticulateSplines"
    assert engine["fully_qualified_name"] == "Hooli.ReticulateSplines@1.0.0"
    assert engine["toolkit"] == {"name": "Hooli", "description": "Hooli", "version": "1.0.0"}
    assert "_meta" not in engine


def test_authorization_requirement_reports_provider_scopes_status_and_token_status():
    status = RequirementsStatus(
        provider_active=True, token_status="completed", secret_keys=frozenset({"hooli_api_key"})
    )
    reqs = to_engine_definition(WORKER_DEF, requirements_status=status)["requirements"]
    assert reqs["authorization"] == {
        "id": "hooli",
        "provider_id": "hooli",
        "provider_type": "oauth2",
        "oauth2": {"scopes": ["scope1", "scope2"]},
        "status": "active",
        "status_reason": None,
        "token_status": "completed",
    }
    assert reqs["secrets"] == [{"key": "HOOLI_API_KEY", "met": True, "status_reason": None}]
    assert reqs["met"] is True


def test_without_a_user_there_is_no_token_status_and_requirements_are_unmet():
    reqs = to_engine_definition(WORKER_DEF, requirements_status=RequirementsStatus(provider_active=True))[
        "requirements"
    ]
    assert "token_status" not in reqs["authorization"]
    assert reqs["met"] is False


def test_an_inactive_provider_or_missing_secret_leaves_requirements_unmet():
    status = RequirementsStatus(provider_active=False, token_status="completed")
    reqs = to_engine_definition(WORKER_DEF, requirements_status=status)["requirements"]
    assert reqs["authorization"]["status"] == "inactive"
    assert reqs["secrets"] == [
        {"key": "HOOLI_API_KEY", "met": False, "status_reason": "secret not found: HOOLI_API_KEY"}
    ]
    assert reqs["met"] is False


def test_a_tool_without_auth_has_null_authorization_never_an_empty_object():
    reqs = to_engine_definition(NO_AUTH_DEF, requirements_status=RequirementsStatus())["requirements"]
    assert reqs["authorization"] is None
    assert reqs["secrets"] == []
    assert reqs["met"] is True


def test_openai_format_is_non_strict_with_only_required_params_required():
    tool = to_openai(WORKER_DEF)
    assert tool["type"] == "function"
    function = tool["function"]
    assert function["name"] == "Hooli_ReticulateSplines"
    assert function["description"] == "Reticulate the specified number of splines."
    params = function["parameters"]
    assert params["required"] == ["num_splines"]
    assert "additionalProperties" not in params
    assert "strict" not in function
    props = params["properties"]
    assert props["num_splines"] == {"type": "integer", "description": "the num_splines"}
    assert props["mode"] == {"type": "string", "enum": ["fast", "slow"], "description": "the mode"}
    assert props["tags"] == {
        "type": "array",
        "items": {"type": "string", "enum": ["a", "b"]},
        "description": "the tags",
    }
    assert props["options"]["type"] == "object"
    assert props["ratio"]["type"] == "number"
    assert props["dry_run"]["type"] == "boolean"


def test_nested_object_properties_become_a_nested_schema():
    nested = _param(
        "filter",
        "json",
        properties={"q": {"val_type": "string", "description": "query"}},
        required_keys=["q"],
    )
    tool = to_openai({**NO_AUTH_DEF, "input": {"parameters": [nested]}})
    assert tool["function"]["parameters"]["properties"]["filter"] == {
        "type": "object",
        "properties": {"q": {"type": "string", "description": "query"}},
        "required": ["q"],
        "description": "the filter",
    }


def test_anthropic_format_is_flat_with_the_same_input_schema():
    tool = to_anthropic(WORKER_DEF)
    assert set(tool) == {"name", "description", "input_schema"}
    assert tool["name"] == "Hooli_ReticulateSplines"
    assert tool["input_schema"] == to_openai(WORKER_DEF)["function"]["parameters"]


def test_a_tool_without_parameters_has_an_empty_object_schema():
    tool = to_openai({**NO_AUTH_DEF, "input": {"parameters": []}})
    assert tool["function"]["parameters"] == {"type": "object", "properties": {}, "required": []}


def test_stacktrace_is_stripped_unless_asked_for():
    output = {
        "value": None,
        "error": {"message": "m", "kind": "TOOL_RUNTIME_FATAL", "stacktrace": "Traceback"},
    }
    assert "stacktrace" not in public_output(output, include_stacktrace=False)["error"]
    assert public_output(output, include_stacktrace=True)["error"]["stacktrace"] == "Traceback"
    assert output["error"]["stacktrace"] == "Traceback"  # the input is not mutated
    assert public_output(None, include_stacktrace=False) is None
