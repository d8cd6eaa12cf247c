"""Contextual Access's pure rules: which hooks run, in which order, and what their answers mean."""

import pytest

from services.executor import hook_domain as domain
from services.executor.hook_domain import Unusable

DEFINITION = {
    "name": "Greet",
    "toolkit": {"name": "Hooli", "version": "1.2.0"},
    "input": {
        "parameters": [
            {"name": "who", "required": True, "value_schema": {"val_type": "string"}},
            {"name": "times", "required": False, "value_schema": {"val_type": "integer"}},
        ]
    },
}


def plugin(plugin_id, status="active", **endpoints):
    urls = {name: {"url": f"http://hooks.test/{name}", **extra} for name, extra in endpoints.items()}
    return {"id": plugin_id, "status": status, "webhook_config": {"endpoints": urls}}


def hook(hook_id, plugin_id, point, priority=0, phase="before", status="active", **extra):
    return {
        "id": hook_id,
        "plugin_id": plugin_id,
        "hook_point": point,
        "priority": priority,
        "phase": phase,
        "status": status,
        "failure_mode": "fail_closed",
        **extra,
    }


def test_hooks_run_before_phase_first_then_by_priority_then_by_id():
    plugins = {"p": plugin("p", pre={})}
    hooks = [
        hook("h3", "p", "tool.pre", priority=1, phase="after"),
        hook("h2", "p", "tool.pre", priority=5),
        hook("h1", "p", "tool.pre", priority=5),
        hook("h0", "p", "tool.pre", priority=9),
    ]
    chains = domain.chains_of(plugins, hooks, {})
    assert [link.hook_id for link in chains.pre] == ["h1", "h2", "h0", "h3"]


def test_inactive_hooks_inactive_plugins_and_missing_endpoints_are_left_out():
    plugins = {"on": plugin("on", access={}), "off": plugin("off", status="inactive", access={})}
    hooks = [
        hook("a", "on", "tool.access"),
        hook("b", "on", "tool.access", status="inactive"),
        hook("c", "off", "tool.access"),
        hook("d", "on", "tool.post"),  # the plugin has no post endpoint
        hook("e", "gone", "tool.access"),
    ]
    chains = domain.chains_of(plugins, hooks, {})
    assert [link.hook_id for link in chains.access] == ["a"]
    assert chains.post == ()


def test_a_project_without_hooks_has_empty_chains():
    assert domain.chains_of({}, [], {}).empty


def test_a_hooks_timeout_wins_over_its_plugins_and_is_capped():
    plugins = {"p": plugin("p", pre={"timeout_ms": 800}, post={"timeout_ms": 120_000})}
    hooks = [hook("own", "p", "tool.pre", timeout_ms=300), hook("slow", "p", "tool.post")]
    chains = domain.chains_of(plugins, hooks, {"p": {"authorization": "Bearer t"}})
    assert chains.pre[0].timeout_s == 0.3
    assert chains.post[0].timeout_s == domain.MAX_TIMEOUT_MS / 1000
    assert chains.pre[0].headers == {"authorization": "Bearer t"}


def test_fail_open_is_read_from_the_hooks_failure_mode():
    plugins = {"p": plugin("p", pre={})}
    chains = domain.chains_of(plugins, [hook("h", "p", "tool.pre", failure_mode="fail_open")], {})
    assert chains.pre[0].fail_open


def test_a_deny_list_naming_the_tool_refuses_it_with_the_reason_given():
    answer = {"deny": {"hooli": {"tools": {"greet": [{"version": "1.2.0"}]}}}, "error_message": "not you"}
    verdict = domain.access_verdict(answer, DEFINITION)
    assert not verdict.allowed
    assert verdict.reason == "not you"


def test_a_deny_list_naming_another_version_or_tool_lets_the_tool_run():
    other_version = {"deny": {"Hooli": {"tools": {"Greet": [{"version": "9.9.9"}]}}}}
    other_tool = {"deny": {"Hooli": {"tools": {"Wave": []}}}}
    assert domain.access_verdict(other_version, DEFINITION).allowed
    assert domain.access_verdict(other_tool, DEFINITION).allowed


def test_an_allow_list_is_the_only_list_read_when_present():
    allowed = {"allow": {"Hooli": {}}, "deny": {"Hooli": {}}}
    elsewhere = {"allow": {"Other": {}}}
    assert domain.access_verdict(allowed, DEFINITION).allowed
    assert not domain.access_verdict(elsewhere, DEFINITION).allowed


def test_an_empty_access_answer_allows():
    assert domain.access_verdict({}, DEFINITION).allowed


@pytest.mark.parametrize("answer", [[], "yes", {"deny": ["Hooli"]}])
def test_an_access_answer_of_another_shape_is_unusable(answer):
    with pytest.raises(Unusable):
        domain.access_verdict(answer, DEFINITION)


def test_check_failed_and_rate_limit_refuse_with_their_message():
    assert domain.result_verdict({"code": "CHECK_FAILED", "error_message": "no"}, "inputs").reason == "no"
    refused = domain.result_verdict({"code": "RATE_LIMIT_EXCEEDED"}, "inputs")
    assert not refused.allowed
    assert refused.reason == "RATE_LIMIT_EXCEEDED"


@pytest.mark.parametrize(
    "answer",
    [{}, {"code": "MAYBE"}, {"code": "OK", "override": []}, {"code": "OK", "override": {"inputs": 3}}],
)
def test_a_result_answer_of_another_shape_is_unusable(answer):
    with pytest.raises(Unusable):
        domain.result_verdict(answer, "inputs")


def test_a_rewrite_replaces_the_inputs_it_names_and_keeps_the_others():
    merged = domain.merged_inputs({"who": "ann", "times": 2}, {"who": "bob"})
    assert merged == {"who": "bob", "times": 2}


def test_rewritten_inputs_must_still_fit_the_tools_schema():
    domain.check_inputs(DEFINITION, {"who": "bob", "times": 3})
    for broken in ({"times": 3}, {"who": 7}, {"who": "bob", "extra": True}):
        with pytest.raises(Unusable):
            domain.check_inputs(DEFINITION, broken)


def test_a_post_rewrite_replaces_a_successful_value_only():
    ran = {"success": True, "output": {"value": "secret 42", "logs": []}}
    failed = {"success": False, "output": {"error": {"message": "boom"}}}
    assert domain.rewritten_output(ran, {"value": "[redacted]"})["output"] == {
        "value": "[redacted]",
        "logs": [],
    }
    assert domain.rewritten_output(failed, {"value": "x"}) == failed
    assert domain.rewritten_output(ran, None) == ran


def test_the_requests_carry_arcades_fields():
    access = domain.access_request(DEFINITION, "ann")
    assert access == {"user_id": "ann", "toolkits": {"Hooli": {"tools": {"Greet": [{"version": "1.2.0"}]}}}}
    pre = domain.pre_request(
        DEFINITION, execution_id="x1", inputs={"who": "a"}, user_id="ann", secret_keys=["K"]
    )
    assert pre["tool"] == {"name": "Greet", "toolkit": "Hooli", "version": "1.2.0"}
    assert pre["context"] == {"user_id": "ann", "secrets": ["K"]}
    response = {"success": False, "output": {"error": {"message": "boom", "kind": "TOOL_RUNTIME_FATAL"}}}
    post = domain.post_request(
        DEFINITION, execution_id="x1", inputs={}, response=response, user_id=None, secret_keys=[]
    )
    assert (post["success"], post["execution_error"], post["execution_code"]) == (
        False,
        "boom",
        "TOOL_RUNTIME_FATAL",
    )
    assert "user_id" not in post["context"]
