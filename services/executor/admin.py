"""The admin use cases the executor owns: workers (``/v1/workers``) and tool secrets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from services.executor.grants import asked
from services.executor.ports import SecretRecords, ToolViews, WorkerCatalog, WorkerClient, WorkerStore
from services.executor.worker_registry import WorkerSpec
from services.executor.worker_specs import worker_under_test
from shared.contracts.common import Page, PageQuery
from shared.contracts.execution import (
    Document,
    SecretRef,
    SecretWrite,
    WorkerRef,
    WorkerToolsQuery,
    WorkerWrite,
)
from shared.errors import BadRequest, ConfigError, Conflict, ServiceUnavailable, ValetkeyError
from shared.runtime.logging import get_logger

log = get_logger(__name__)


class WorkerAdmin:
    """Create, change, inspect and remove remote workers.

    Args:
        registry: Where workers are kept.
        catalog: Reloaded after every change, so the new tools are callable at once.
        tools: Shapes a worker's tools as engine definitions.
        changed: Tells the other executor replicas to reload (a NATS broadcast).
        probe: Builds a client for a worker spec (the catalog's HTTP client).
    """

    def __init__(
        self,
        registry: WorkerStore,
        catalog: WorkerCatalog,
        tools: ToolViews,
        changed: Callable[[], Awaitable[None]],
        probe: Callable[[WorkerSpec], WorkerClient],
    ) -> None:
        self._registry = registry
        self._catalog = catalog
        self._tools = tools
        self._changed = changed
        self._probe = probe

    async def reload(self) -> None:
        """Read the worker list again and refetch the catalogs of changed workers."""
        await self._catalog.set_workers(await self._registry.all())

    async def _after_change(self) -> None:
        await self.reload()
        await self._changed()

    async def _check_secret(self, spec: WorkerSpec) -> list[dict[str, Any]] | None:
        """Refuse a worker that rejects our JWT, or that advertises a tool another source serves;
        accept one that is merely down (it may start later). Answers the tools it lists (None: down)."""
        try:
            definitions = await self._probe(spec).definitions()
        except ConfigError as exc:
            if spec.type == "mcp":
                raise BadRequest(
                    f"MCP worker {spec.id} at {spec.uri} refused the engine's request (HTTP 401/403): "
                    "check its mcp.headers and mcp.secrets"
                ) from exc
            raise BadRequest(
                f"worker {spec.id} at {spec.uri} refused the engine's token: the secret does not match "
                "the worker's (ARCADE_WORKER_SECRET)"
            ) from exc
        except ValetkeyError as exc:
            log.warning("workers.unreachable_on_save", worker=spec.id, error=exc.message)
            return None
        if taken := self._catalog.collisions(spec.id, definitions):
            raise Conflict(
                f"worker {spec.id} advertises tools another source already serves: {', '.join(taken[:5])}; "
                "a tool name belongs to its first source (in process, then engine.yaml order)"
            )
        return definitions

    def _view(self, spec: WorkerSpec) -> dict[str, Any]:
        """Arcade's ``WorkerResponse``, with the tools this replica left out for want of grants."""
        refused = [r.view() for r in self._catalog.refusals(spec.id)]
        return spec.view() | {"refused_tools": refused}

    async def list(self, query: PageQuery) -> Page:
        """One page of workers."""
        workers = await self._registry.of_project(query.project)
        page = workers[query.offset : query.offset + query.limit]
        return Page(items=[self._view(w) for w in page], total_count=len(workers))

    async def get(self, ref: WorkerRef) -> Document:
        """One worker."""
        return Document(body=self._view(await self._registry.get(ref.id, ref.project)))

    async def create(self, write: WorkerWrite) -> Document:
        """Register a worker after checking that it accepts our secret; without written grants, it is
        granted what its tools ask for now (services/executor/grants.py), as the answer shows."""
        spec = self._registry.parse_create(write.body, write.project)
        listed = await self._check_secret(spec)
        if spec.grants is None and listed is not None:
            spec = replace(spec, grants=asked(listed))
        await self._registry.create(spec)
        await self._after_change()
        return Document(body=self._view(spec))

    async def update(self, write: WorkerWrite) -> Document:
        """Change a worker created through the API."""
        if not write.id:
            raise BadRequest("a worker id is required")
        spec = await self._registry.patched(write.id, write.body, write.project)
        if spec.enabled:
            await self._check_secret(spec)
        await self._registry.update(spec)
        await self._after_change()
        return Document(body=self._view(spec))

    async def delete(self, ref: WorkerRef) -> None:
        """Remove a worker created through the API."""
        await self._registry.delete(ref.id, ref.project)
        await self._after_change()

    async def health(self, ref: WorkerRef) -> Document:
        """``{id, enabled, healthy, message}``: reachable, and accepting our secret; plus the tools
        left out for want of grants. The tools it lists now replace this replica's copy."""
        spec = await self._registry.get(ref.id, ref.project)
        body: dict[str, Any] = {"id": spec.id, "enabled": spec.enabled, "healthy": False}
        body |= {"message": "worker is disabled", "refused_tools": []}
        if spec.enabled:
            client = self._probe(spec)
            try:
                status = await client.health()
                tools = await client.definitions()  # /worker/health takes no JWT: check the secret here
            except ValetkeyError as exc:
                body["message"] = exc.message
                return Document(body=body)
            refused = await self._catalog.accept(spec.id, tools)
            message = f"ok: {len(tools) - len(refused)} tools ({status.get('status', 'ok')})"
            if refused:
                message += "; not granted: " + "; ".join(r.text() for r in refused)
            body |= {"healthy": True, "message": message, "refused_tools": [r.view() for r in refused]}
        return Document(body=body)

    async def test(self, write: WorkerWrite) -> Document:
        """Arcade's ``WorkerTestResponse`` for a worker not registered: ``{success, message}``.

        The URI goes through the same checks as a registration (the outbound address policy).

        Raises:
            BadRequest: An invalid body.
            TargetRefused: An address the outbound policy refuses.
        """
        body, with_secret = worker_under_test(write.body)
        client = self._probe(self._registry.parse_create(body, write.project))
        try:
            status = await client.health()
            tools = await client.definitions() if with_secret else None
        except ConfigError:
            return Document(body={"success": False, "message": "the worker refused the engine's credentials"})
        except ValetkeyError as exc:
            return Document(body={"success": False, "message": exc.message})
        answer: dict[str, Any] = {"success": True, "message": f"reachable ({status.get('status', 'ok')})"}
        if tools is not None:
            answer["message"] = f"ok: {len(tools)} tools"
        if status.get("server"):
            answer["serverInfo"] = {"name": str(status["server"])}
        return Document(body=answer)

    async def tools(self, query: WorkerToolsQuery) -> Page:
        """One page of a worker's tools, as engine definitions."""
        await self._registry.get(query.id, query.project)
        _, definitions, error = self._catalog.worker(query.id)
        if error and not definitions:
            raise ServiceUnavailable(f"worker {query.id} gave no tools: {error}")
        page = definitions[query.offset : query.offset + query.limit]
        items = await self._tools.views(page, query.user_id, [], None, query.project)
        return Page(items=items, total_count=len(definitions))


class SecretAdmin:
    """List, upsert and delete tool secrets; values are never answered."""

    def __init__(self, secrets: SecretRecords) -> None:
        self._secrets = secrets

    async def list(self, query: PageQuery) -> Page:
        """One page of secrets' metadata."""
        records = await self._secrets.list(query.project)
        page = records[query.offset : query.offset + query.limit]
        return Page(items=[r.view() for r in page], total_count=len(records))

    async def upsert(self, write: SecretWrite) -> Document:
        """Create or replace a secret."""
        record = await self._secrets.upsert(write.key, write.value, write.description, write.project)
        return Document(body=record.view())

    async def delete(self, ref: SecretRef) -> None:
        """Delete a secret by id."""
        await self._secrets.delete(ref.id, ref.project)
