"""Composition root of the executor service.

Start-up order matters: the in-process toolkits are imported (in a thread, seconds for
big toolkits) and the remote catalogs fetched *before* the broker connects, so the
executor answers its health ping only once it can answer for its tools.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from faststream import FastStream

from services.executor.adapters import OutboxEvents, Providers, RefreshingTokens, RpcAuthorizer
from services.executor.admin import SecretAdmin, WorkerAdmin
from services.executor.catalog import ToolCatalog, WorkerSource, worker_client
from services.executor.execution import Executor
from services.executor.handlers import (
    register_admin,
    register_contextual_access,
    register_mcp_gateways,
    register_notifications,
    register_scheduled,
    register_tools,
)
from services.executor.history import ExecutionHistory
from services.executor.hook_admin import ContextualAccessAdmin
from services.executor.hook_store import HookStore
from services.executor.hooks import ContextualAccess
from services.executor.mcp_gateways import McpGatewayAdmin
from services.executor.scheduled import ScheduledRunner, Scheduling
from services.executor.secret_store import SecretStore
from services.executor.settings import ExecutorSettings
from services.executor.sources import InProcessToolkits
from services.executor.tool_service import ToolService
from services.executor.worker_registry import WorkerRegistry, WorkerSpec
from shared.bus import subjects
from shared.bus.answer_cache import AnswerCache, StaleNotices
from shared.bus.answers import StaleAnswers
from shared.bus.messaging import RpcClient
from shared.errors import ServiceUnavailable
from shared.providers.projects import ProjectProviders
from shared.runtime import infra
from shared.runtime.background import Periodic
from shared.runtime.logging import get_logger
from shared.runtime.service import Service
from shared.runtime.settings import Settings
from shared.tokens.cached import CachedTokens
from shared.tokens.freshness import TokenReads
from shared.tokens.last_use import LastUse

log = get_logger(__name__)


def create_service(settings: Settings) -> Service:
    """Build the executor app: broker, Redis, catalog, handlers; nothing connects until it runs."""
    parts = infra.build(settings, service="executor")
    config = ExecutorSettings.from_settings(settings)
    app = FastStream(parts.broker, logger=None)
    prefix = config.key_prefix
    http = httpx.AsyncClient()
    registry_of_providers = ProjectProviders(
        list(settings.engine.auth.providers),
        parts.redis,
        parts.cipher,
        prefix=settings.keyspace().grouped("providers"),
    )
    providers = Providers(registry_of_providers)
    secrets = SecretStore(parts.redis, parts.cipher, config.secrets, prefix=prefix)
    allow_private = settings.engine.security.allow_private_targets or settings.development
    registry = WorkerRegistry(
        parts.redis, parts.cipher, config.workers, prefix=prefix, allow_private_targets=allow_private
    )
    hook_store = HookStore(parts.redis, parts.cipher, prefix=prefix)
    contextual = ContextualAccess(hook_store, http, allow_private=allow_private)
    catalog = ToolCatalog(http, pin=registry.pin)

    def rpc() -> RpcClient:
        if parts.rpc is None:
            raise ServiceUnavailable("the executor is still starting")
        return parts.rpc

    def wake_relay() -> None:
        if parts.relay is not None:
            parts.relay.wake()

    async def workers_changed() -> None:
        await parts.broker.publish(b"", subjects.WORKERS_CHANGED)
        # A worker's tools (their requirements) are in tools.authorize's answers, of any project.
        await parts.tokens.stale.publish(None)

    def probe(spec: WorkerSpec) -> WorkerSource:
        return worker_client(spec, http, retry=0, pooled=False)

    records = AnswerCache(seconds=config.token_cache_seconds, max_entries=config.token_cache_entries)
    notices = StaleNotices(records)
    reads: TokenReads = CachedTokens(parts.tokens, records) if records.enabled else parts.tokens
    fresh = RefreshingTokens(reads, rpc, config.refresh_policy)
    authorizer = RpcAuthorizer(rpc)
    tools = ToolService(catalog, providers, parts.tokens, secrets, authorizer, fresh, config.refresh_policy)
    events = OutboxEvents(parts.tokens.outbox, wake_relay)
    history = ExecutionHistory(
        parts.redis,
        parts.cipher,
        config.execution_logging,
        horizon_days=config.scheduled.horizon_days,
        # Its steps write several keys of a project together: one slot for them on a Redis Cluster.
        prefix=settings.keyspace().grouped("executions"),
    )
    last_use = LastUse(parts.redis, parts.tokens, parts.background)
    executor = Executor(
        catalog,
        providers,
        fresh,
        secrets,
        authorizer,
        events,
        history,
        after_reply=parts.background,
        hooks=contextual,
        last_use=last_use,
    )
    runner = ScheduledRunner(executor, history, events, config.scheduled, lease_seconds=config.lease_seconds)
    workers = WorkerAdmin(registry, catalog, tools, workers_changed, probe)
    register_tools(parts.server, tools, executor)
    register_scheduled(parts.server, Scheduling(catalog, history, config.scheduled))
    register_admin(parts.server, workers, SecretAdmin(secrets))
    register_notifications(parts.broker, workers, contextual, parts.tokens.stale)

    async def hooks_changed(project: str) -> None:
        contextual.forget(project)
        await parts.broker.publish(b"", subjects.HOOKS_CHANGED)

    admin = ContextualAccessAdmin(hook_store, hooks_changed, allow_private_targets=allow_private)
    register_contextual_access(parts.server, admin)
    engine = settings.engine
    gateways = McpGatewayAdmin(
        parts.redis,
        engine.mcp.gateways,
        prefix=prefix,
        oauth_ready=engine.auth.verification.oidc is not None,
    )
    register_mcp_gateways(parts.server, gateways)
    # Redis away: a round fails, and the next one tries again.
    refresher = Periodic(
        _refresh(workers, catalog, parts.tokens.stale),
        config.catalog_refresh_seconds,
        name="catalog-refresh",
        failed="catalog.refresh_failed",
    )

    @app.on_startup
    async def load_catalog() -> None:
        names, timeout = config.toolkits, config.timeout_seconds
        if names:
            source = await asyncio.to_thread(InProcessToolkits, names, timeout_s=timeout)
            await catalog.load_in_process(source)
        await workers.reload()
        log.info("catalog.loaded", tools=len(catalog.definitions(all_versions=True)))

    @app.after_startup
    async def started() -> None:
        # Following the notices before serving: no record is kept that a notice could miss.
        await notices.start(parts.broker.connection)
        await infra.start(parts)
        refresher.start()
        runner.start()

    @app.on_shutdown
    async def stopping() -> None:
        await notices.stop()
        await refresher.stop()
        await runner.stop()
        await infra.stop(parts)  # running tools finish first: they may still call workers
        await http.aclose()

    return Service(app, parts.server)


def _refresh(
    workers: WorkerAdmin, catalog: ToolCatalog, stale: StaleAnswers
) -> Callable[[], Awaitable[None]]:
    """One round of the catalog's refresh: the workers another replica changed while we missed
    the broadcast, then each worker's tools; the gateways forget their answers when these changed."""

    async def refresh() -> None:
        before = catalog.everything()
        await workers.reload()
        await catalog.refresh()
        if catalog.everything() != before:
            await stale.publish(None)

    return refresh
