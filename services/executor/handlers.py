"""NATS entry points of the executor: each subject validated into its contract, answered in the envelope."""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker

from services.executor.admin import SecretAdmin, WorkerAdmin
from services.executor.execution import Executor
from services.executor.tool_service import ToolService
from shared import subjects
from shared.contracts.common import PageQuery
from shared.contracts.execution import (
    AuthorizeTool,
    ExecuteTool,
    GetTool,
    ListTools,
    SecretRef,
    SecretWrite,
    WorkerRef,
    WorkerToolsQuery,
    WorkerWrite,
)
from shared.messaging import RPC_WORKERS, respond

Q = subjects.QUEUE_EXECUTOR


def register_tools(broker: NatsBroker, tools: ToolService, executor: Executor) -> None:
    """Tool listing, lookup, authorization and execution."""

    @broker.subscriber(subjects.TOOLS_LIST, queue=Q, max_workers=RPC_WORKERS)
    async def list_tools(body: Any) -> dict[str, Any]:
        return await respond(ListTools, body, tools.list)

    @broker.subscriber(subjects.TOOLS_GET, queue=Q, max_workers=RPC_WORKERS)
    async def get_tool(body: Any) -> dict[str, Any]:
        return await respond(GetTool, body, tools.get)

    @broker.subscriber(subjects.TOOLS_AUTHORIZE, queue=Q, max_workers=RPC_WORKERS)
    async def authorize_tool(body: Any) -> dict[str, Any]:
        return await respond(AuthorizeTool, body, tools.authorize)

    @broker.subscriber(subjects.TOOLS_EXECUTE, queue=Q, max_workers=RPC_WORKERS)
    async def execute_tool(body: Any) -> dict[str, Any]:
        return await respond(ExecuteTool, body, executor.execute)


def register_admin(broker: NatsBroker, workers: WorkerAdmin, secrets: SecretAdmin) -> None:
    """Workers and secrets administration, plus the broadcast that keeps replicas' worker lists equal."""

    @broker.subscriber(subjects.WORKERS_LIST, queue=Q, max_workers=RPC_WORKERS)
    async def list_workers(body: Any) -> dict[str, Any]:
        return await respond(PageQuery, body, workers.list)

    @broker.subscriber(subjects.WORKERS_GET, queue=Q, max_workers=RPC_WORKERS)
    async def get_worker(body: Any) -> dict[str, Any]:
        return await respond(WorkerRef, body, workers.get)

    @broker.subscriber(subjects.WORKERS_CREATE, queue=Q, max_workers=RPC_WORKERS)
    async def create_worker(body: Any) -> dict[str, Any]:
        return await respond(WorkerWrite, body, workers.create)

    @broker.subscriber(subjects.WORKERS_UPDATE, queue=Q, max_workers=RPC_WORKERS)
    async def update_worker(body: Any) -> dict[str, Any]:
        return await respond(WorkerWrite, body, workers.update)

    @broker.subscriber(subjects.WORKERS_DELETE, queue=Q, max_workers=RPC_WORKERS)
    async def delete_worker(body: Any) -> dict[str, Any]:
        return await respond(WorkerRef, body, workers.delete)

    @broker.subscriber(subjects.WORKERS_HEALTH, queue=Q, max_workers=RPC_WORKERS)
    async def worker_health(body: Any) -> dict[str, Any]:
        return await respond(WorkerRef, body, workers.health)

    @broker.subscriber(subjects.WORKERS_TOOLS, queue=Q, max_workers=RPC_WORKERS)
    async def worker_tools(body: Any) -> dict[str, Any]:
        return await respond(WorkerToolsQuery, body, workers.tools)

    @broker.subscriber(subjects.WORKERS_CHANGED)  # no queue: every replica reloads
    async def workers_changed(_: Any) -> None:
        await workers.reload()

    @broker.subscriber(subjects.SECRETS_LIST, queue=Q, max_workers=RPC_WORKERS)
    async def list_secrets(body: Any) -> dict[str, Any]:
        return await respond(PageQuery, body, secrets.list)

    @broker.subscriber(subjects.SECRETS_UPSERT, queue=Q, max_workers=RPC_WORKERS)
    async def upsert_secret(body: Any) -> dict[str, Any]:
        return await respond(SecretWrite, body, secrets.upsert)

    @broker.subscriber(subjects.SECRETS_DELETE, queue=Q, max_workers=RPC_WORKERS)
    async def delete_secret(body: Any) -> dict[str, Any]:
        return await respond(SecretRef, body, secrets.delete)
