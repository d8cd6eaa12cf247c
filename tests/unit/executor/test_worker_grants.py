"""A worker's tools get only the secrets and providers granted to that worker."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.executor.catalog import ToolCatalog
from services.executor.grants import Grants, asked, asks, screen
from services.executor.mcp_workers import McpWorker
from services.executor.worker_registry import WorkerSpec, configured_workers
from services.executor.worker_specs import CreateBody, UpdateBody, changes_of, parse_body, spec_of
from shared.errors import BadRequest, NotFound, ToolNotGranted
from shared.runtime.config_tools import ToolsConfig

SECRET = "s" * 32


def tool(name: str, secrets: tuple[str, ...] = (), auth: dict[str, Any] | None = None) -> dict[str, Any]:
    requirements = {"secrets": [{"key": key} for key in secrets], "authorization": auth}
    return {"name": name, "toolkit": {"name": "Vault"}, "requirements": requirements}


def test_a_tool_asks_for_its_secrets_and_the_provider_its_requirement_names():
    assert asks(tool("A", ("KEY",), {"id": "hooli"})) == Grants(("KEY",), ("hooli",))
    assert asks(tool("B", auth={"id": None, "provider_id": "github"})) == Grants((), ("github",))
    assert asks(tool("C")) == Grants()


def test_what_a_worker_asks_for_is_the_union_once_each_whatever_the_case():
    wanted = asked([tool("A", ("key", "Other")), tool("B", ("KEY",), {"id": "hooli"})])
    assert wanted == Grants(("key", "Other"), ("hooli",))


def test_a_tool_asking_beyond_the_grants_is_refused_naming_what_it_lacks():
    admitted, refused = screen(
        [tool("A", ("KEY",)), tool("B", ("key", "MORE"), {"id": "hooli"})], Grants.of(["Key"])
    )
    assert [d["name"] for d in admitted] == ["A"]
    assert [r.view() for _, r in refused] == [
        {"tool": "Vault.B", "secrets": ["MORE"], "providers": ["hooli"]}
    ]
    assert refused[0][1].text() == "Vault.B asks for secret MORE, provider hooli"


class Worker:
    """A worker's listing the test changes between fetches."""

    def __init__(self, listed: list[dict[str, Any]]) -> None:
        self.listed = listed

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(lambda request: httpx.Response(200, json=self.listed))


async def catalog(worker: Worker, grants: Grants | None, pins: dict[str, Grants]) -> ToolCatalog:
    async def pin(worker_id: str, wanted: Grants) -> Grants:
        return pins.setdefault(worker_id, wanted)

    tools = ToolCatalog(httpx.AsyncClient(transport=worker.transport()), pin=pin)
    await tools.set_workers([WorkerSpec("vault", "http://v.test", SECRET, 1, 0, grants=grants)])
    return tools


async def test_an_ungranted_tool_is_not_served_and_executing_it_says_why():
    worker = Worker([tool("Whisper", ("KEY",)), tool("Peek", ("OTHER",))])
    tools = await catalog(worker, Grants.of(["KEY"]), {})
    assert {d["name"] for d in tools.definitions()} == {"Whisper"}
    with pytest.raises(ToolNotGranted) as error:
        tools.resolve("Vault.Peek")
    assert "asks for secret OTHER, which worker vault is not granted" in error.value.message
    assert [r.tool for r in tools.refusals("vault")] == ["Vault.Peek"]
    with pytest.raises(NotFound):
        tools.resolve("Vault.Nothing")


async def test_a_worker_without_grants_is_pinned_at_first_listing_and_refused_more_later():
    pins: dict[str, Grants] = {}
    worker = Worker([tool("Whisper", ("KEY",), {"id": "hooli"})])
    tools = await catalog(worker, None, pins)
    assert pins == {"vault": Grants(("KEY",), ("hooli",))}
    assert tools.resolve("Vault.Whisper")[0]["name"] == "Whisper"
    worker.listed = [tool("Whisper", ("KEY", "MORE"), {"id": "hooli"})]
    await tools.refresh()
    with pytest.raises(ToolNotGranted):
        tools.resolve("Vault.Whisper")


async def test_the_pin_another_replica_wrote_first_is_the_one_in_force():
    pins = {"vault": Grants()}
    tools = await catalog(Worker([tool("Whisper", ("KEY",))]), None, pins)
    assert tools.definitions() == [] and tools.refusals("vault")[0].tool == "Vault.Whisper"


async def test_another_projects_refused_tool_stays_not_found():
    transport = Worker([tool("Peek", ("OTHER",))]).transport()
    tools = ToolCatalog(httpx.AsyncClient(transport=transport))
    spec = WorkerSpec("vault", "http://v.test", SECRET, 1, 0, project="a", grants=Grants())
    await tools.set_workers([spec])
    with pytest.raises(ToolNotGranted):
        tools.resolve("Vault.Peek", project="a")
    with pytest.raises(NotFound) as error:
        tools.resolve("Vault.Peek", project="b")
    assert not isinstance(error.value, ToolNotGranted)


async def test_an_mcp_workers_tools_follow_the_same_rule(monkeypatch):
    async def listed(self: McpWorker) -> list[dict[str, Any]]:
        return [tool("Send", auth={"id": "google"}) | {"toolkit": {"name": "Notes"}}]

    monkeypatch.setattr(McpWorker, "definitions", listed)
    tools = ToolCatalog(httpx.AsyncClient())
    spec = WorkerSpec("notes", "https://n.test/mcp", "", 1, 0, type="mcp", toolkit="Notes", grants=Grants())
    await tools.set_workers([spec])
    with pytest.raises(ToolNotGranted):
        tools.resolve("Notes.Send")


def test_grants_in_a_create_body_are_the_workers_and_a_patch_replaces_them():
    body = {"id": "v", "http": {"uri": "https://v", "secret": SECRET, "timeout": 1, "retry": 0}}
    body["grants"] = {"secrets": ["KEY", "key"], "providers": ["hooli"]}
    spec = spec_of(parse_body(CreateBody, body), project="default")
    assert spec.grants == Grants(("KEY",), ("hooli",))
    assert spec.view()["grants"] == {"secrets": ["KEY"], "providers": ["hooli"], "pinned": False}
    changes = changes_of(spec, parse_body(UpdateBody, {"grants": {"secrets": ["KEY", "MORE"]}}))
    assert changes["grants"] == Grants(("KEY", "MORE"), ())


def test_a_grant_that_is_not_a_name_is_a_bad_request():
    with pytest.raises(BadRequest) as error:
        parse_body(UpdateBody, {"grants": {"secrets": ["a b"]}})
    assert "grants.secrets.0" in error.value.message
    with pytest.raises(BadRequest):
        parse_body(UpdateBody, {"grants": {"tokens": ["x"]}})


def test_engine_yaml_grants_are_written_grants_and_no_grants_leaves_them_to_the_first_listing():
    http = {"uri": "https://v", "secret": SECRET, "timeout": 1, "retry": 0}
    tools = ToolsConfig.model_validate(
        {
            "directors": [
                {
                    "id": "default",
                    "workers": [
                        {"id": "written", "http": http, "grants": {"secrets": ["KEY"], "providers": []}},
                        {"id": "unwritten", "http": http},
                    ],
                }
            ]
        }
    )
    written, unwritten = configured_workers(tools)
    assert (written.grants, written.granted) == (Grants(("KEY",), ()), Grants(("KEY",), ()))
    assert (unwritten.grants, unwritten.granted) == (None, None)
