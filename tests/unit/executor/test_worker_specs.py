"""MCP worker bodies and engine.yaml entries: what they accept, what they refuse, what they show."""

import pytest
from pydantic import ValidationError

from services.executor.worker_specs import (
    CreateBody,
    UpdateBody,
    changes_of,
    parse_body,
    spec_of,
    toolkit_of,
)
from shared.errors import BadRequest
from shared.runtime.config_tools import WorkerConfig

MCP = {"uri": "https://mcp.example.com/mcp", "timeout": 10, "retry": 2}


def created(body):
    return spec_of(parse_body(CreateBody, body), enabled=True, created_at=None, project="default")


def test_an_mcp_body_makes_an_mcp_worker_named_after_its_id_unless_a_toolkit_is_given():
    spec = created({"id": "fast-notes", "type": "mcp", "mcp": MCP | {"headers": {"X-Team": "a"}}})
    assert (spec.type, spec.toolkit, spec.uri, spec.headers) == (
        "mcp",
        "FastNotes",
        MCP["uri"],
        {"X-Team": "a"},
    )
    assert created({"id": "n", "mcp": MCP | {"toolkit": "Notes"}}).toolkit == "Notes"


@pytest.mark.parametrize(
    ("worker_id", "toolkit"), [("render_mcp.v2", "RenderMcpV2"), ("9lives", "Mcp9lives")]
)
def test_a_toolkit_from_an_id_is_pascal_case_and_starts_with_a_letter(worker_id, toolkit):
    assert toolkit_of(worker_id) == toolkit


def test_secret_headers_are_kept_but_never_shown():
    spec = created({"id": "n", "type": "mcp", "mcp": MCP | {"secrets": {"Authorization": "Bearer s3cr3t"}}})
    assert spec.secret_headers == {"Authorization": "Bearer s3cr3t"}
    view = spec.view()
    assert view["type"] == "mcp" and "http" not in view
    assert view["mcp"]["secrets"]["Authorization"]["exists"] is True
    assert "s3cr3t" not in str(view)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "n", "type": "mcp"},
        {"id": "n", "type": "mcp", "http": {"uri": "http://w", "secret": "x" * 32, "timeout": 1, "retry": 0}},
        {
            "id": "n",
            "type": "mcp",
            "mcp": MCP,
            "http": {"uri": "http://w", "secret": "x" * 32, "timeout": 1, "retry": 0},
        },
        {"id": "n", "type": "mcp", "mcp": MCP | {"headers": {"bad header": "v"}}},
        {"id": "n", "type": "sse", "mcp": MCP},
    ],
)
def test_a_body_that_does_not_describe_one_mcp_worker_is_a_bad_request(body):
    with pytest.raises(BadRequest):
        created(body)


def test_a_patch_changes_the_mcp_block_and_may_not_touch_the_http_one():
    spec = created({"id": "n", "type": "mcp", "mcp": MCP})
    changes = changes_of(spec, parse_body(UpdateBody, {"mcp": {"timeout": 5, "secrets": {"X-Key": "k"}}}))
    assert changes == {"timeout": 5, "secret_headers": {"X-Key": "k"}}
    with pytest.raises(BadRequest):
        changes_of(spec, parse_body(UpdateBody, {"http": {"timeout": 5}}))


def test_engine_yaml_takes_a_worker_with_an_mcp_block_and_refuses_one_with_both_or_neither():
    assert WorkerConfig.model_validate({"id": "n", "mcp": {"uri": MCP["uri"]}}).type == "mcp"
    assert WorkerConfig.model_validate({"id": "h", "http": {"uri": "https://w"}}).type == "http"
    for bad in ({"id": "n"}, {"id": "n", "type": "mcp", "http": {"uri": "https://w"}}):
        with pytest.raises(ValidationError):
            WorkerConfig.model_validate(bad)
