"""The tools list ``filter``: Arcade's JSON metadata filter, parsed and matched (§3.3)."""

import json

import pytest

from services.executor.tool_filter import domains_of, parse_filter
from shared.errors import BadRequest


def tool(name, domains=None, operations=None, extras=None, **flags):
    metadata = {
        "classification": {"service_domains": domains} if domains is not None else None,
        "behavior": {"operations": operations, **flags},
        "extras": extras,
    }
    return {"name": name, "toolkit": {"name": "Hooli"}, "metadata": metadata}


SEND = tool("Send", ["email"], ["create"], {"idp": "okta", "tier": 2}, read_only=False, destructive=False)
READ = tool("Read", ["email", "calendar"], ["read"], {"idp": "okta"}, read_only=True, open_world=True)
DROP = tool("Drop", ["cloud_storage"], ["delete"], read_only=False, destructive=True)
BARE = {"name": "Bare", "toolkit": {"name": "Hooli"}, "metadata": None}
ALL = [SEND, READ, DROP, BARE]


def names(raw):
    wanted = parse_filter(json.dumps(raw) if not isinstance(raw, str) else raw)
    return [d["name"] for d in ALL if wanted is None or wanted.matches(d)]


class TestArrayFields:
    def test_a_list_is_shorthand_for_any_of_and_ignores_case(self):
        assert names({"service_domains": ["EMAIL", "cloud_storage"]}) == ["Send", "Read", "Drop"]

    def test_all_of_needs_every_value(self):
        assert names({"service_domains": {"all_of": ["email", "calendar"]}}) == ["Read"]

    def test_none_of_keeps_tools_without_metadata(self):
        assert names({"operations": {"none_of": ["delete", "create"]}}) == ["Read", "Bare"]

    def test_operators_combine_on_one_field(self):
        spec = {"service_domains": {"any_of": ["email"], "none_of": ["calendar"]}}
        assert names(spec) == ["Send"]


class TestFlagsAndExtras:
    def test_a_flag_matches_only_tools_that_declare_that_value(self):
        assert names({"read_only": True}) == ["Read"]
        assert names({"read_only": False}) == ["Send", "Drop"]

    def test_extras_match_as_a_case_sensitive_subset(self):
        assert names({"extras": {"idp": "okta"}}) == ["Send", "Read"]
        assert names({"extras": {"idp": "Okta"}}) == []
        assert names({"extras": {"idp": "okta", "tier": 2}}) == ["Send"]

    def test_every_part_must_hold(self):
        assert names({"service_domains": ["email"], "read_only": False, "extras": {"tier": 2}}) == ["Send"]


class TestNoFilter:
    @pytest.mark.parametrize("raw", [None, "", "  ", "{}"])
    def test_absent_blank_or_empty_keeps_every_tool(self, raw):
        wanted = parse_filter(raw)
        assert [d["name"] for d in ALL if wanted is None or wanted.matches(d)] == [
            "Send",
            "Read",
            "Drop",
            "Bare",
        ]


class TestRefused:
    @pytest.mark.parametrize(
        ("raw", "says"),
        [
            ("{not json", "not JSON"),
            ("[]", "JSON object"),
            ('{"domains": ["email"]}', "unknown field 'domains'"),
            ('{"service_domains": {"some_of": ["email"]}}', "unknown operator 'some_of'"),
            ('{"service_domains": "email"}', "a list or an object"),
            ('{"service_domains": {}}', "a list or an object"),
            ('{"operations": ["read", 3]}', "list of strings"),
            ('{"operations": ["reed"]}', "unknown value 'reed'"),
            ('{"service_domains": ["emails"]}', "unknown value 'emails'"),
            ('{"read_only": "true"}', "true or false"),
            ('{"extras": ["idp"]}', "extras must be a JSON object"),
        ],
    )
    def test_bad_filters_are_a_bad_request_naming_the_problem(self, raw, says):
        with pytest.raises(BadRequest, match=says):
            parse_filter(raw)

    def test_a_domain_a_catalog_tool_declares_is_accepted_though_arcade_does_not_list_it(self):
        catalog = [tool("New", ["quantum_ledgers"], ["read"])]
        wanted = parse_filter('{"service_domains": ["quantum_ledgers"]}', known_domains=domains_of(catalog))
        assert wanted is not None and wanted.matches(catalog[0])
