"""A worker registered through the API serves its tools to its own project; engine.yaml's to all."""

from __future__ import annotations

import httpx
import pytest

from services.executor.catalog import ToolCatalog
from services.executor.mcp_workers import McpWorker
from services.executor.worker_registry import WorkerSpec
from shared.errors import NotFound


def definition(toolkit: str, name: str) -> dict[str, object]:
    return {"name": name, "fully_qualified_name": f"{toolkit}.{name}", "toolkit": {"name": toolkit}}


TOOLS = {"a.test": [definition("Alpha", "Ping")], "all.test": [definition("Shared", "Pong")]}


async def catalog() -> ToolCatalog:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=TOOLS[request.url.host]))
    tools = ToolCatalog(httpx.AsyncClient(transport=transport))
    secret = "s" * 32
    await tools.set_workers(
        [
            WorkerSpec("of-a", "http://a.test", secret, 1, 0, project="a"),
            WorkerSpec("configured", "http://all.test", secret, 1, 0, static=True),
        ]
    )
    return tools


def names(tools: ToolCatalog, project: str) -> set[str]:
    return {d["name"] for d in tools.definitions(project=project)}


async def test_a_projects_worker_lists_its_tools_to_that_project_only():
    tools = await catalog()
    assert names(tools, "a") == {"Ping", "Pong"}
    assert names(tools, "b") == {"Pong"}


async def test_another_project_cannot_resolve_or_run_a_projects_worker_tool():
    tools = await catalog()
    assert tools.resolve("Alpha.Ping", project="a")[0]["name"] == "Ping"
    with pytest.raises(NotFound):
        tools.resolve("Alpha.Ping", project="b")
    assert tools.resolve("Shared.Pong", project="b")[0]["name"] == "Pong"


async def test_an_mcp_worker_of_a_project_serves_that_project_only(monkeypatch):
    async def listed(self: McpWorker) -> list[dict[str, object]]:
        return [definition("Notes", "add")]

    monkeypatch.setattr(McpWorker, "definitions", listed)
    tools = ToolCatalog(httpx.AsyncClient())
    spec = WorkerSpec("notes", "https://n.test/mcp", "", 1, 0, project="a", type="mcp", toolkit="Notes")
    await tools.set_workers([spec])
    assert (names(tools, "a"), names(tools, "b")) == ({"add"}, set())
    with pytest.raises(NotFound):
        tools.resolve("Notes.add", project="b")
