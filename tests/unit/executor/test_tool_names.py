"""Tool names as clients send them (reference §4.4)."""

import pytest

from services.executor.definitions import ToolName, parse_tool_name, resolve
from shared.errors import BadRequest, NotFound


def _defn(toolkit: str, name: str, version: str = "1.0.0") -> dict:
    return {"name": name, "toolkit": {"name": toolkit, "version": version, "description": ""}}


CATALOG = [
    _defn("Github", "SetStarred", "3.1.3"),
    _defn("Github", "SetStarred", "3.10.0"),
    _defn("Gmail", "ListEmails", "4.2.0"),
    _defn("Loan", "ping_probe", "1.0.0"),
    _defn("Loan_Shark", "Bite", "1.0.0"),
]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Github.SetStarred", ToolName("Github", "SetStarred")),
        ("Github_SetStarred", ToolName("Github", "SetStarred")),
        ("Github.SetStarred@3.1.3", ToolName("Github", "SetStarred", "3.1.3")),
        ("Github_SetStarred@3.1.3", ToolName("Github", "SetStarred", "3.1.3")),
        ("Loan_ping_probe", ToolName("Loan", "ping_probe")),
        ("Loan.ping_probe", ToolName("Loan", "ping_probe")),
        ("github.setstarred", ToolName("github", "setstarred")),
    ],
)
def test_every_documented_name_form_parses(name, expected):
    assert parse_tool_name(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Github",
        "Github.",
        ".SetStarred",
        "_SetStarred",
        "Github_",
        "Github.SetStarred@",
        "A.B.C",
        "Git hub.X",
    ],
)
def test_an_unparsable_name_is_a_bad_request_naming_it(name):
    with pytest.raises(BadRequest, match=f"failed to parse tool name {name}"):
        parse_tool_name(name)


def test_resolution_is_case_insensitive_for_both_separators():
    assert resolve("github_setstarred", CATALOG)["name"] == "SetStarred"
    assert resolve("GMAIL.LISTEMAILS", CATALOG)["toolkit"]["name"] == "Gmail"


def test_without_a_version_the_highest_toolkit_version_wins_numerically():
    assert resolve("Github.SetStarred", CATALOG)["toolkit"]["version"] == "3.10.0"


def test_a_version_selects_that_exact_toolkit_version():
    assert resolve("Github_SetStarred@3.1.3", CATALOG)["toolkit"]["version"] == "3.1.3"
    with pytest.raises(NotFound):
        resolve("Github.SetStarred@9.9.9", CATALOG)


def test_a_tool_name_containing_underscores_splits_at_the_first_underscore():
    assert resolve("Loan_ping_probe", CATALOG)["name"] == "ping_probe"


def test_an_underscore_name_falls_back_to_later_splits_when_the_first_matches_nothing():
    assert resolve("Loan_Shark_Bite", CATALOG)["toolkit"]["name"] == "Loan_Shark"


def test_an_unknown_tool_is_not_found():
    with pytest.raises(NotFound):
        resolve("Github.DeleteEverything", CATALOG)
