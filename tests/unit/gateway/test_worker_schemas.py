"""A worker's view as Arcade's ``WorkerResponse`` (docs/arcade-compatibility.md §1.6, §4.4)."""

from __future__ import annotations

from typing import Any

import pytest
from arcadepy.types import WorkerResponse
from arcadepy.types.worker_health_response import WorkerHealthResponse

from services.executor.grants import Grants
from services.executor.worker_specs import WorkerSpec
from services.gateway.arcade_schemas import SCHEMAS, conform, ref
from tests.support.strict_openapi import StrictDocument

REFUSED = [{"tool": "Vault.Peek", "secrets": ["PEEK_KEY"], "providers": []}]
HTTP_WORKER = WorkerSpec(
    id="vault", uri="http://w", secret="s" * 32, timeout=2.0, retry=1, grants=Grants(secrets=("VAULT_KEY",))
)
MCP_WORKER = WorkerSpec(
    id="notes",
    uri="http://m/mcp",
    secret="",
    timeout=5.0,
    retry=0,
    static=True,
    type="mcp",
    toolkit="Notes",
    headers={"X-Team": "a"},
    secret_headers={"X-Key": "k"},
)


def _view(spec: WorkerSpec) -> dict[str, Any]:
    """What the executor answers for a worker: its view and the tools it refused."""
    return spec.view() | {"refused_tools": REFUSED}


def _problems(body: Any, schema_name: str) -> list[str]:
    operation = {"responses": {"200": {"content": {"application/json": {"schema": ref(schema_name)}}}}}
    document = StrictDocument({"paths": {"/w": {"get": operation}}, "components": {"schemas": SCHEMAS}})
    return document.problems("get", "/w", 200, body)


def test_the_worker_schemas_name_exactly_arcadepys_fields():
    assert set(SCHEMAS["WorkerResponse"]["properties"]) == set(WorkerResponse.model_fields)
    assert set(SCHEMAS["WorkerHealthResponse"]["properties"]) == set(WorkerHealthResponse.model_fields)


@pytest.mark.parametrize("spec", [HTTP_WORKER, MCP_WORKER], ids=["http", "mcp"])
def test_a_workers_view_unconformed_breaks_the_strict_check_and_conformed_passes_it(spec):
    assert any("unexpected" in p for p in _problems(_view(spec), "WorkerResponse"))
    assert _problems(conform(_view(spec), "WorkerResponse"), "WorkerResponse") == []


def test_grants_refused_tools_and_the_mcp_toolkit_go_without_extras():
    body = conform(_view(MCP_WORKER), "WorkerResponse")
    assert not {"grants", "refused_tools"} & set(body) and "toolkit" not in body["mcp"]
    assert body["requirements"] == {"met": True}
    assert body["mcp"]["secrets"]["X-Key"]["exists"] is True


def test_asked_for_extras_grants_refused_tools_and_the_toolkit_stay():
    body = conform(_view(HTTP_WORKER), "WorkerResponse", extras=True)
    assert body["grants"] == {"secrets": ["VAULT_KEY"], "providers": [], "pinned": False}
    assert body["refused_tools"] == REFUSED
    assert conform(_view(MCP_WORKER), "WorkerResponse", extras=True)["mcp"]["toolkit"] == "Notes"


def test_a_page_of_workers_and_a_health_answer_fit_arcades_schemas():
    page = {"items": [_view(HTTP_WORKER)], "limit": 25, "offset": 0, "page_count": 1, "total_count": 1}
    assert _problems(conform(page, "WorkerPage"), "WorkerPage") == []
    health = {"id": "vault", "enabled": True, "healthy": True, "message": "ok", "refused_tools": REFUSED}
    arcades = {key: value for key, value in health.items() if key != "refused_tools"}
    assert conform(health, "WorkerHealthResponse") == arcades
