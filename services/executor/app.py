"""Composition root of the executor service.

Start-up order matters: the in-process toolkits are imported (in a thread, seconds for
big toolkits) and the remote catalogs fetched *before* the broker connects, so the
executor answers its health ping only once it can answer for its tools.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from faststream import FastStream

from services.executor.admin import SecretAdmin, WorkerAdmin
from services.executor.catalog import ToolCatalog
from services.executor.execution import Executor
from services.executor.handlers import register_admin, register_notifications, register_tools
from services.executor.requirements import Providers
from services.executor.secret_store import SecretStore
from services.executor.sources import InProcessToolkits
from services.executor.tool_service import ToolService
from services.executor.worker_registry import WorkerRegistry, WorkerSpec, configured_workers
from services.executor.workers import RemoteWorker
from shared import infra, subjects
from shared.contracts.events import ToolExecutionCompleted
from shared.errors import ServiceUnavailable
from shared.freshness import fresh_token
from shared.logging import get_logger
from shared.messaging import RpcClient
from shared.provider_registry import ProviderRegistry
from shared.service import Service
from shared.settings import Settings
from shared.tokens import StoredToken

log = get_logger(__name__)

# Remote catalogs are fetched again this often, so a worker redeployed with new tools shows them.
CATALOG_REFRESH_SECONDS = 60.0


def create_service(settings: Settings) -> Service:
    """Build the executor app: broker, Redis, catalog, handlers; nothing connects until it runs."""
    parts = infra.build(settings, service="executor")
    app = FastStream(parts.broker, logger=None)
    tools_config, prefix = settings.engine.tools, settings.runtime.key_prefix
    http = httpx.AsyncClient()
    catalog = ToolCatalog(http)
    registry_of_providers = ProviderRegistry(
        list(settings.engine.auth.providers), parts.redis, parts.cipher, prefix=prefix
    )
    providers = Providers(registry_of_providers)
    secret_values = {k: v.get_secret_value() for k, v in tools_config.secrets.items()}
    secrets = SecretStore(parts.redis, parts.cipher, secret_values, prefix=prefix)
    registry = WorkerRegistry(parts.redis, parts.cipher, configured_workers(tools_config), prefix=prefix)

    def rpc() -> RpcClient:
        if parts.rpc is None:
            raise ServiceUnavailable("the executor is still starting")
        return parts.rpc

    async def publish(event: ToolExecutionCompleted) -> None:
        await parts.tokens.outbox.add_now(event)
        if parts.relay is not None:
            parts.relay.wake()

    async def workers_changed() -> None:
        await parts.broker.publish(b"", subjects.WORKERS_CHANGED)

    def probe(spec: WorkerSpec) -> RemoteWorker:
        return RemoteWorker(spec.uri, spec.secret, spec.timeout, retry=0, http=http)

    policy = settings.refresh_policy()

    async def fresh(user_id: str, provider_id: str) -> StoredToken | None:
        return await fresh_token(parts.tokens, rpc(), policy, user_id=user_id, provider_id=provider_id)

    tools = ToolService(catalog, providers, parts.tokens, secrets, rpc, fresh)
    executor = Executor(catalog, providers, parts.tokens, secrets, settings.refresh_policy(), rpc, publish)
    workers = WorkerAdmin(registry, catalog, tools, workers_changed, probe)
    register_tools(parts.server, tools, executor)
    register_admin(parts.server, workers, SecretAdmin(secrets))
    register_notifications(parts.broker, workers)
    refresher: list[asyncio.Task[None]] = []

    @app.on_startup
    async def load_catalog() -> None:
        names, timeout = list(tools_config.toolkits), tools_config.timeout_seconds
        if names:
            source = await asyncio.to_thread(InProcessToolkits, names, timeout_s=timeout)
            await catalog.load_in_process(source)
        await workers.reload()
        log.info("catalog.loaded", tools=len(catalog.definitions(all_versions=True)))

    @app.after_startup
    async def started() -> None:
        await infra.start(parts)
        refresher.append(asyncio.create_task(_refresh_forever(workers, catalog), name="catalog-refresh"))

    @app.on_shutdown
    async def stopping() -> None:
        for task in refresher:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await infra.stop(parts)  # running tools finish first: they may still call workers
        await http.aclose()

    return Service(app, parts.server)


async def _refresh_forever(workers: WorkerAdmin, catalog: ToolCatalog) -> None:
    while True:
        await asyncio.sleep(CATALOG_REFRESH_SECONDS)
        try:
            await workers.reload()  # picks up workers another replica changed while we missed the broadcast
            await catalog.refresh()
        except Exception as exc:  # Redis away: try again next round
            log.warning("catalog.refresh_failed", error=type(exc).__name__)
