"""One tool catalog over every source: the in-process toolkits and each remote worker (arcade-serve or MCP).

Above this module nothing knows where a tool runs: a definition resolves to a
:class:`~services.executor.sources.ToolSource`, and the caller invokes it. Remote
catalogs are fetched when the worker list changes and periodically; a worker that
cannot be reached keeps the definitions it last gave (its calls then fail as
unreachable, which tells the agent more than a vanished tool), and one that refuses
our secret is listed with its error. A worker's tool that asks for a secret or provider the
worker is not granted is left out, and kept aside to say why (:mod:`.grants`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeAlias

import httpx

from services.executor import metrics
from services.executor.definitions import resolve
from services.executor.grants import Grants, Refusal, asked, screen
from services.executor.sources import ToolSource
from services.executor.worker_registry import WorkerSpec
from services.executor.workers import RemoteWorker
from shared.contracts.common import DEFAULT_PROJECT
from shared.errors import NotFound, ToolNotGranted, ValetkeyError
from shared.runtime.logging import get_logger

if TYPE_CHECKING:
    from services.executor.mcp_workers import McpWorker

log = get_logger(__name__)

IN_PROCESS = "in_process"


# The MCP SDK is a third of the executor's import time (starlette with it): imported when a
# worker of type mcp is first met, not at every start.
WorkerSource: TypeAlias = "RemoteWorker | McpWorker"


def worker_client(
    spec: WorkerSpec, http: httpx.AsyncClient, *, retry: int | None = None, pooled: bool = True
) -> WorkerSource:
    """The client a worker's type calls for: arcade-serve's protocol, or MCP over Streamable HTTP
    (``pooled=False`` for a one-off probe: its connections close with the call)."""
    attempts = spec.retry if retry is None else retry
    if spec.type == "mcp":
        from services.executor.mcp_workers import McpWorker  # late: see WorkerSource

        return McpWorker(spec, retry=attempts, pooled=pooled)
    return RemoteWorker(spec.uri, spec.secret, spec.timeout, attempts, http)


@dataclass
class _Remote:
    spec: WorkerSpec
    client: WorkerSource
    definitions: list[dict[str, Any]] = field(default_factory=list)  # the granted ones
    refused: list[tuple[dict[str, Any], Refusal]] = field(default_factory=list)
    error: str | None = None


class DirectorCaps:
    """``tools.directors[].max_tools``: the tool names a director's workers serve together, first
    come (configuration order) first served; the rest are left out, logged once per rebuild."""

    def __init__(self) -> None:
        self._names: dict[str, set[tuple[str, str]]] = {}
        self._left_out: dict[str, list[str]] = {}

    def admit(self, spec: WorkerSpec, name: tuple[str, str]) -> bool:
        if spec.director is None or spec.director_max_tools is None:
            return True
        names = self._names.setdefault(spec.director, set())
        if name in names or len(names) < spec.director_max_tools:
            names.add(name)
            return True
        self._left_out.setdefault(spec.director, []).append(".".join(name))
        return False

    def log_full(self) -> None:
        for director, tools in self._left_out.items():
            log.warning("catalog.director_full", director=director, left_out=sorted(set(tools)))


def _identity(definition: Mapping[str, Any]) -> tuple[str, str, str]:
    toolkit = definition["toolkit"]
    return (str(toolkit["name"]).lower(), str(definition["name"]).lower(), str(toolkit.get("version") or ""))


def _order(definition: Mapping[str, Any]) -> tuple[str, str, tuple[tuple[int, int | str], ...]]:
    toolkit, name, version = _identity(definition)
    # Numeric where possible, so 1.10.0 sorts after 1.9.0.
    parts = tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.+-]", version))
    return toolkit, name, parts


class ToolCatalog:
    """Merged definitions and where each one runs.

    Args:
        http: Shared HTTP client for the remote workers.
        pin: Pins a worker's grants at its first listing and answers the grants in force (the
            registry's ``pin``); without one, pins are kept in memory.
    """

    def __init__(
        self, http: httpx.AsyncClient, pin: Callable[[str, Grants], Awaitable[Grants]] | None = None
    ) -> None:
        self._pin = pin
        self._in_process: ToolSource | None = None
        self._in_process_defs: list[dict[str, Any]] = []
        self._http = http
        self._remotes: dict[str, _Remote] = {}
        self._merged: list[dict[str, Any]] = []
        self._source_of: dict[int, str] = {}
        # Names as clients spell them -> the definition's identity; cleared whenever the catalog changes.
        self._resolved: dict[tuple[str, str | None], Mapping[str, Any]] = {}

    async def load_in_process(self, source: ToolSource) -> None:
        """Add the toolkits loaded in this process (their definitions never change after loading)."""
        self._in_process = source
        self._in_process_defs = await source.definitions()
        self._rebuild()

    async def set_workers(self, specs: list[WorkerSpec]) -> None:
        """Replace the worker list and fetch the catalogs of new or changed workers."""
        remotes: dict[str, _Remote] = {}
        for spec in specs:
            if not spec.enabled:
                continue
            known = self._remotes.get(spec.id)
            if known is not None and known.spec == spec:
                remotes[spec.id] = known
            else:
                remotes[spec.id] = _Remote(spec, worker_client(spec, self._http))
        fresh = [r for worker_id, r in remotes.items() if self._remotes.get(worker_id) is not r]
        for gone in self._remotes.keys() - remotes.keys():
            metrics.WORKER_UP.remove(gone)
        for worker_id, old in self._remotes.items():
            if remotes.get(worker_id) is not old and not isinstance(old.client, RemoteWorker):
                old.client.retire()
        self._remotes = remotes
        await asyncio.gather(*(self._fetch(r) for r in fresh))
        self._rebuild()

    async def refresh(self) -> None:
        """Fetch every worker's catalog again (the periodic refresh)."""
        await asyncio.gather(*(self._fetch(r) for r in self._remotes.values()))
        self._rebuild()

    async def _fetch(self, remote: _Remote) -> None:
        try:
            listed = await remote.client.definitions()
            remote.error = None
            metrics.WORKER_UP.labels(remote.spec.id).set(1)
        except ValetkeyError as exc:
            remote.error = exc.message
            metrics.WORKER_UP.labels(remote.spec.id).set(0)
            log.warning("catalog.worker_unavailable", worker=remote.spec.id, error=exc.message)
            return
        await self._screen(remote, listed)

    async def _screen(self, remote: _Remote, listed: list[dict[str, Any]]) -> None:
        """Keep the tools the worker is granted; set the others aside, logged when they change."""
        if remote.spec.granted is None:
            wanted = asked(listed)
            pinned = wanted if self._pin is None else await self._pin(remote.spec.id, wanted)
            remote.spec = replace(remote.spec, pinned=pinned)
            log.info("catalog.worker_grants_pinned", worker=remote.spec.id, **pinned.to_json())
        granted = remote.spec.granted or Grants()
        admitted, refused = screen(listed, granted)
        before = {r for _, r in remote.refused}
        for _, refusal in refused:
            if refusal not in before:
                log.warning(
                    "catalog.tool_not_granted",
                    worker=remote.spec.id,
                    tool=refusal.tool,
                    **refusal.missing.to_json(),
                )
        remote.definitions, remote.refused = admitted, refused

    async def accept(self, worker_id: str, listed: list[dict[str, Any]]) -> list[Refusal]:
        """Take a worker's tools as just listed elsewhere (its health check); answer the refusals."""
        remote = self._remotes.get(worker_id)
        if remote is None:
            return []
        remote.error = None
        await self._screen(remote, listed)
        self._rebuild()
        return self.refusals(worker_id)

    def refusals(self, worker_id: str) -> list[Refusal]:
        """The worker's tools left out for asking what it is not granted."""
        remote = self._remotes.get(worker_id)
        return [] if remote is None else [r for _, r in remote.refused]

    def owners(self) -> dict[tuple[str, str], str]:
        """Which source serves each tool name (toolkit, tool), in any version."""
        owners: dict[tuple[str, str], str] = {}
        for source_id, definitions in self._groups():
            for definition in definitions:
                owners.setdefault(_identity(definition)[:2], source_id)
        return owners

    def collisions(self, worker_id: str, definitions: list[dict[str, Any]]) -> list[str]:
        """The tool names ``definitions`` share with another source: a worker may not take them."""
        owners = self.owners()
        taken = {
            f"{definition['toolkit']['name']}.{definition['name']}"
            for definition in definitions
            if owners.get(_identity(definition)[:2], worker_id) != worker_id
        }
        return sorted(taken)

    def _groups(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Sources in priority order: in process first, then workers in configuration order."""
        return [(IN_PROCESS, self._in_process_defs)] + [(i, r.definitions) for i, r in self._remotes.items()]

    def _rebuild(self) -> None:
        merged: list[dict[str, Any]] = []
        source_of: dict[int, str] = {}
        owners: dict[tuple[str, str], str] = {}
        served = DirectorCaps()
        for source_id, definitions in self._groups():
            remote = self._remotes.get(source_id)
            for definition in definitions:
                # A tool name belongs to the first source that serves it (in process, then
                # config order), in every version: another source's Gmail 99 cannot take
                # Gmail.SendEmail, nor the tokens that come with it.
                name = _identity(definition)[:2]
                owner = owners.get(name, source_id)
                if owner != source_id:
                    log.warning("catalog.tool_taken", tool=definition["name"], worker=source_id, owner=owner)
                    continue
                if remote is not None and not served.admit(remote.spec, name):
                    continue
                owners[name] = source_id
                merged.append(definition)
                source_of[id(definition)] = source_id
        served.log_full()
        merged.sort(key=_order)
        self._merged, self._source_of, self._resolved = merged, source_of, {}

    def _serves(self, source_id: str, project: str) -> bool:
        """In-process toolkits and engine.yaml's workers serve every project; an API worker its own."""
        remote = self._remotes.get(source_id)
        return remote is None or remote.spec.serves(project)

    def source_of(self, definition: dict[str, Any]) -> str:
        """Which source serves a definition this catalog handed out: ``in_process`` or a worker id."""
        return self._source_of.get(id(definition), IN_PROCESS)

    def everything(self) -> list[dict[str, Any]]:
        """Every source's admitted definitions, of every project (to tell whether a refresh changed any)."""
        return list(self._merged)

    def definitions(
        self, *, project: str = DEFAULT_PROJECT, toolkit: str | None = None, all_versions: bool = False
    ) -> list[dict[str, Any]]:
        """A project's worker-format definitions by toolkit and name; latest version only unless asked."""
        found = [
            d
            for d in self._merged
            if (toolkit is None or d["toolkit"]["name"].lower() == toolkit.lower())
            and self._serves(self._source_of[id(d)], project)
        ]
        if all_versions:
            return found
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for definition in found:  # sorted by version within a tool, so the last one wins
            latest[_identity(definition)[:2]] = definition
        return [d for d in found if latest[_identity(d)[:2]] is d]

    def resolve(
        self, name: str, version: str | None = None, *, project: str = DEFAULT_PROJECT
    ) -> tuple[dict[str, Any], ToolSource]:
        """The definition a client's name refers to, and the source that runs it.

        Raises:
            BadRequest: Unparseable name.
            NotFound: No such tool (or version), or another project's worker's.
        """
        definition = self._resolved.get((name, version))
        if definition is None:
            wanted = f"{name}@{version}" if version and "@" not in name else name
            try:  # the catalog's own object: its id maps the source
                definition = resolve(wanted, self._merged)
            except NotFound:
                self._not_granted(wanted, project)
                raise
            if len(self._resolved) < 10_000:  # bounded: names come from clients
                self._resolved[(name, version)] = definition
        source_id = self._source_of[id(definition)]
        if not self._serves(source_id, project):  # a name belongs to one source in every version
            raise NotFound(f"tool {name} not found")
        return dict(definition), self._source(source_id)

    def _not_granted(self, name: str, project: str) -> None:
        """Say why a name the project's worker lists is not served, when it is for want of grants.

        Raises:
            ToolNotGranted: The tool asks for a secret or provider its worker is not granted.
        """
        for worker_id, remote in self._remotes.items():
            if not remote.refused or not remote.spec.serves(project):
                continue
            try:
                definition = resolve(name, [d for d, _ in remote.refused])
            except NotFound:
                continue
            refusal = next(r for d, r in remote.refused if d is definition)
            raise ToolNotGranted(
                f"tool {refusal.tool} is not served: it asks for {refusal.needs()}, which worker "
                f"{worker_id} is not granted; an admin can widen the worker's grants"
            )

    def _source(self, source_id: str) -> ToolSource:
        if source_id == IN_PROCESS and self._in_process is not None:
            return self._in_process
        return self._remotes[source_id].client

    def worker(self, worker_id: str) -> tuple[WorkerSource, list[dict[str, Any]], str | None]:
        """A worker's client, its last catalog and its last error.

        Raises:
            NotFound: The worker is unknown or disabled.
        """
        remote = self._remotes.get(worker_id)
        if remote is None:
            raise NotFound(f"worker {worker_id} not found or disabled")
        return remote.client, remote.definitions, remote.error
