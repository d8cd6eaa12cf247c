"""MCP gateway rules: tool patterns, MCP names, and what a tools/call answers."""

import json

import pytest

from services.gateway.mcp.domain import Gateway, call_outcome, matches, mcp_name, select


def view(toolkit: str, name: str, schema: dict | None = None) -> dict:
    formatted = {"anthropic": {"input_schema": schema}} if schema else {}
    return {
        "toolkit": {"name": toolkit},
        "name": name,
        "qualified_name": f"{toolkit}.{name}",
        "description": f"{name} of {toolkit}",
        "formatted_schema": formatted,
    }


def result(outcome: str, **fields) -> dict:
    return {"outcome": outcome, "tool_name": "Hooli.Reticulate", **fields}


class TestPatterns:
    @pytest.mark.parametrize(
        ("pattern", "toolkit", "tool"),
        [
            ("Github.*", "Github", "ListRepos"),
            ("github.listrepos", "GitHub", "ListRepos"),
            ("Github", "Github", "CreateIssue"),
            ("*", "Gmail", "SendEmail"),
            ("Git*.List*", "Github", "ListStargazers"),
        ],
    )
    def test_a_pattern_matches_its_tools_case_insensitively(self, pattern, toolkit, tool):
        assert matches([pattern], toolkit, tool)

    @pytest.mark.parametrize(
        ("pattern", "toolkit", "tool"),
        [
            ("Github.ListRepos", "Github", "ListReposExtra"),
            ("Github.*", "GithubEnterprise", "ListRepos"),
            ("Gmail", "Github", "ListRepos"),
        ],
    )
    def test_a_pattern_matches_nothing_else(self, pattern, toolkit, tool):
        assert not matches([pattern], toolkit, tool)

    def test_the_mcp_name_is_the_qualified_name_with_an_underscore_as_arcade_mcp_server_names_it(self):
        assert mcp_name("Github", "List_Repos") == "Github_List_Repos"


class TestSelection:
    def test_a_gateway_exposes_the_matching_tools_with_their_schemas_in_catalog_order(self):
        schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
        gateway = Gateway(slug="g", tools=("Hooli.Ping", "Hooli.Ret*"))
        views = [view("Hooli", "Explode"), view("Hooli", "Ping"), view("Hooli", "Reticulate", schema)]
        chosen = select(gateway, views)
        assert [t.mcp_name for t in chosen.tools] == ["Hooli_Ping", "Hooli_Reticulate"]
        assert chosen.by_name["hooli_reticulate"].input_schema == schema
        assert chosen.by_name["hooli_ping"].input_schema == {"type": "object", "properties": {}}
        assert chosen.by_name["hooli_ping"].qualified_name == "Hooli.Ping"


class TestCallOutcome:
    def test_a_completed_object_is_text_and_structured_content(self):
        outcome = call_outcome(result("completed", value={"a": 1}))
        assert (outcome.texts, outcome.structured, outcome.is_error) == (('{"a": 1}',), {"a": 1}, False)

    def test_a_completed_string_is_its_text(self):
        assert call_outcome(result("completed", value="pong")).texts == ("pong",)

    def test_authorization_required_is_an_error_result_with_the_url_and_never_a_token(self):
        url = "https://idp.example/authorize?x=1"
        outcome = call_outcome(
            result("authorization_required", authorization={"url": url, "context": {"token": "secret"}})
        )
        assert outcome.is_error
        assert url in outcome.texts[0]
        assert json.loads(outcome.texts[1])["authorization_url"] == url
        assert "secret" not in "".join(outcome.texts)

    def test_a_failed_tool_is_an_error_result_with_its_message_and_hint(self):
        error = {"message": "busy", "additional_prompt_content": "retry later"}
        outcome = call_outcome(result("failed", error=error))
        assert (outcome.texts, outcome.is_error) == (("busy", "retry later"), True)

    def test_a_missing_secret_is_named(self):
        outcome = call_outcome(result("secret_missing", missing_secret="API_KEY"))
        assert outcome.texts == ("secret not found: API_KEY",) and outcome.is_error
