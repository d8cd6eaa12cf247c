"""``tools.directors[].max_tools``: a director's workers serve at most that many tool names
together, the first workers in configuration order first; another director is counted apart."""

from __future__ import annotations

import httpx

from services.executor.catalog import ToolCatalog
from services.executor.worker_registry import WorkerSpec, configured_workers
from shared.runtime.config_tools import ToolsConfig


def definition(toolkit: str, name: str, version: str = "1.0.0") -> dict[str, object]:
    return {
        "name": name,
        "fully_qualified_name": f"{toolkit}.{name}",
        "toolkit": {"name": toolkit, "version": version},
    }


TOOLS = {
    "one.test": [definition("One", "A"), definition("One", "B"), definition("One", "B", "2.0.0")],
    "two.test": [definition("Two", "C"), definition("Two", "D")],
    "three.test": [definition("Three", "E")],
}


def worker(id_: str, host: str, director: str, cap: int) -> WorkerSpec:
    spec = WorkerSpec(id_, f"http://{host}", "s" * 32, 1, 0, static=True)
    return WorkerSpec(**{**spec.__dict__, "director": director, "director_max_tools": cap})


async def catalog(*specs: WorkerSpec) -> ToolCatalog:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=TOOLS[request.url.host]))
    tools = ToolCatalog(httpx.AsyncClient(transport=transport))
    await tools.set_workers(list(specs))
    return tools


def names(tools: ToolCatalog) -> set[str]:
    return {d["fully_qualified_name"] for d in tools.definitions(all_versions=True)}


async def test_a_director_serves_its_first_max_tools_names_in_configuration_order():
    tools = await catalog(worker("one", "one.test", "main", 3), worker("two", "two.test", "main", 3))
    assert names(tools) == {"One.A", "One.B", "Two.C"}


async def test_two_versions_of_one_tool_count_once():
    tools = await catalog(worker("one", "one.test", "main", 2))
    assert len(tools.definitions(all_versions=True)) == 3


async def test_another_director_has_its_own_count():
    tools = await catalog(worker("one", "one.test", "main", 2), worker("three", "three.test", "other", 1))
    assert names(tools) == {"One.A", "One.B", "Three.E"}


def test_configured_workers_carry_their_directors_cap():
    config = ToolsConfig.model_validate(
        {
            "directors": [
                {
                    "id": "main",
                    "max_tools": 5,
                    "workers": [
                        {"id": "w", "enabled": True, "http": {"uri": "https://w.example", "secret": "s" * 32}}
                    ],
                }
            ]
        }
    )
    (spec,) = configured_workers(config)
    assert (spec.director, spec.director_max_tools) == ("main", 5)
