"""NATS entry points of the executor: each subject validated into its contract, answered in the envelope."""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker

from services.executor.admin import SecretAdmin, WorkerAdmin
from services.executor.execution import Executor
from services.executor.hook_admin import ContextualAccessAdmin
from services.executor.hooks import ContextualAccess
from services.executor.mcp_gateways import McpGatewayAdmin
from services.executor.scheduled import Scheduling
from services.executor.tool_service import ToolService
from shared.bus import subjects
from shared.bus.answers import StaleAnswers
from shared.bus.rpc import RpcServer
from shared.contracts.common import PageQuery
from shared.contracts.execution import (
    AuthorizeTool,
    CheckRequirements,
    ExecuteTool,
    ExecutionQuery,
    ExecutionRef,
    GetTool,
    ListTools,
    SecretRef,
    SecretWrite,
    WorkerRef,
    WorkerToolsQuery,
    WorkerWrite,
)
from shared.contracts.hooks import HookBulk, HookQuery, HookRef, HookWrite, PluginRef, PluginWrite
from shared.contracts.mcp import GatewayRef, GatewayWrite

Q = subjects.QUEUE_EXECUTOR


def register_tools(server: RpcServer, tools: ToolService, executor: Executor) -> None:
    """Tool listing, lookup, authorization and execution."""
    server.add(subjects.TOOLS_LIST, ListTools, tools.list, queue=Q, name="list_tools")
    server.add(subjects.TOOLS_GET, GetTool, tools.get, queue=Q, name="get_tool")
    server.add(
        subjects.TOOLS_AUTHORIZE, AuthorizeTool, tools.answer_authorize, queue=Q, name="authorize_tool"
    )
    server.add(subjects.TOOLS_EXECUTE, ExecuteTool, executor.execute, queue=Q, name="execute_tool")
    server.add(
        subjects.TOOLS_REQUIREMENTS, CheckRequirements, tools.requirements, queue=Q, name="tool_requirements"
    )


def register_scheduled(server: RpcServer, scheduling: Scheduling) -> None:
    """Scheduled executions and the execution history."""
    server.add(subjects.TOOLS_SCHEDULE, ExecuteTool, scheduling.schedule, queue=Q, name="schedule_tool")
    server.add(subjects.SCHEDULED_LIST, ExecutionQuery, scheduling.list, queue=Q, name="list_scheduled")
    server.add(subjects.SCHEDULED_GET, ExecutionRef, scheduling.get, queue=Q, name="get_scheduled")
    server.add(subjects.EXECUTIONS_LIST, ExecutionQuery, scheduling.history, queue=Q, name="list_executions")


def register_admin(server: RpcServer, workers: WorkerAdmin, secrets: SecretAdmin) -> None:
    """Workers and secrets administration."""
    server.add(subjects.WORKERS_LIST, PageQuery, workers.list, queue=Q, name="list_workers")
    server.add(subjects.WORKERS_GET, WorkerRef, workers.get, queue=Q, name="get_worker")
    server.add(subjects.WORKERS_CREATE, WorkerWrite, workers.create, queue=Q, name="create_worker")
    server.add(subjects.WORKERS_UPDATE, WorkerWrite, workers.update, queue=Q, name="update_worker")
    server.add(subjects.WORKERS_DELETE, WorkerRef, workers.delete, queue=Q, name="delete_worker")
    server.add(subjects.WORKERS_HEALTH, WorkerRef, workers.health, queue=Q, name="worker_health")
    server.add(subjects.WORKERS_TOOLS, WorkerToolsQuery, workers.tools, queue=Q, name="worker_tools")
    server.add(subjects.WORKERS_TEST, WorkerWrite, workers.test, queue=Q, name="test_worker")
    server.add(subjects.SECRETS_LIST, PageQuery, secrets.list, queue=Q, name="list_secrets")
    server.add(subjects.SECRETS_UPSERT, SecretWrite, secrets.upsert, queue=Q, name="upsert_secret")
    server.add(subjects.SECRETS_DELETE, SecretRef, secrets.delete, queue=Q, name="delete_secret")


def register_mcp_gateways(server: RpcServer, gateways: McpGatewayAdmin) -> None:
    """MCP gateways administration, and the gateway service's look-up by slug."""
    server.add(subjects.MCP_GATEWAYS_LIST, PageQuery, gateways.list, queue=Q, name="list_mcp_gateways")
    server.add(subjects.MCP_GATEWAYS_GET, GatewayRef, gateways.get, queue=Q, name="get_mcp_gateway")
    server.add(
        subjects.MCP_GATEWAYS_CREATE, GatewayWrite, gateways.create, queue=Q, name="create_mcp_gateway"
    )
    server.add(
        subjects.MCP_GATEWAYS_UPDATE, GatewayWrite, gateways.update, queue=Q, name="update_mcp_gateway"
    )
    server.add(subjects.MCP_GATEWAYS_DELETE, GatewayRef, gateways.delete, queue=Q, name="delete_mcp_gateway")


def register_contextual_access(server: RpcServer, admin: ContextualAccessAdmin) -> None:
    """Plugins and hooks administration (docs/contextual-access.md)."""
    server.add(subjects.PLUGINS_LIST, HookQuery, admin.list_plugins, queue=Q, name="list_plugins")
    server.add(subjects.PLUGINS_GET, PluginRef, admin.get_plugin, queue=Q, name="get_plugin")
    server.add(subjects.PLUGINS_CREATE, PluginWrite, admin.create_plugin, queue=Q, name="create_plugin")
    server.add(subjects.PLUGINS_UPDATE, PluginWrite, admin.update_plugin, queue=Q, name="update_plugin")
    server.add(subjects.PLUGINS_DELETE, PluginRef, admin.delete_plugin, queue=Q, name="delete_plugin")
    server.add(subjects.HOOKS_LIST, HookQuery, admin.list_hooks, queue=Q, name="list_hooks")
    server.add(subjects.HOOKS_GET, HookRef, admin.get_hook, queue=Q, name="get_hook")
    server.add(subjects.HOOKS_CREATE, HookWrite, admin.create_hook, queue=Q, name="create_hook")
    server.add(subjects.HOOKS_UPDATE, HookWrite, admin.update_hook, queue=Q, name="update_hook")
    server.add(subjects.HOOKS_DELETE, HookRef, admin.delete_hook, queue=Q, name="delete_hook")
    server.add(subjects.HOOKS_BULK, HookBulk, admin.bulk_hooks, queue=Q, name="bulk_upsert_hooks")


def register_notifications(
    broker: NatsBroker, workers: WorkerAdmin, hooks: ContextualAccess, stale: StaleAnswers | None = None
) -> None:
    """The broadcasts that keep replicas' worker lists and hook chains equal (no queue: every replica
    hears them). Once a replica reloaded its workers, the gateways forget the answers it may have
    given from its old list meanwhile (``stale``)."""

    @broker.subscriber(subjects.WORKERS_CHANGED)
    async def workers_changed(_: Any) -> None:
        await workers.reload()
        if stale is not None:
            await stale.publish(None)

    @broker.subscriber(subjects.HOOKS_CHANGED)
    async def hooks_changed(_: Any) -> None:
        hooks.forget()
