"""Composition root of the token_refresher service."""

from __future__ import annotations

from faststream import FastStream

from services.token_refresher import handlers, metrics
from services.token_refresher.adapters import (
    Coalesced,
    EnabledProviders,
    RedisTokens,
    SystemClock,
)
from services.token_refresher.leases import Leases
from services.token_refresher.refresh_counts import RefreshCounts
from services.token_refresher.refresher import Refresher
from services.token_refresher.scheduler import Scheduler
from services.token_refresher.settings import RefresherSettings
from shared.providers.client import ProviderClient
from shared.providers.http import ProviderHttp
from shared.providers.projects import ProjectProviders
from shared.runtime import gauges, infra
from shared.runtime.gauges import Sampler
from shared.runtime.logging import get_logger
from shared.runtime.service import Service
from shared.runtime.settings import Settings
from shared.tokens.schedule import RefreshSchedule

log = get_logger(__name__)


def create_service(settings: Settings) -> Service:
    """Build the refresher: broker, Redis, handlers, schedule loop; nothing connects until it runs."""
    parts = infra.build(settings, service="token_refresher")
    config = RefresherSettings.from_settings(settings)
    clock = SystemClock()
    client = ProviderHttp(  # pooled, redirects never followed
        allow_private=settings.engine.security.allow_private_targets,
        limit=config.concurrency + config.rpc_workers,
    )
    tokens = RedisTokens(
        parts.tokens,
        parts.redis,
        committed=Coalesced(lambda: parts.relay.wake() if parts.relay else None, config.relay_wake_seconds),
        lock_ttl=config.lock_ttl_seconds,
        lock_wait=config.lock_wait_seconds,
    )
    leases = Leases(tokens, clock, config)
    counts = RefreshCounts(parts.redis, prefix=settings.keyspace().grouped("refresh"))
    refresher = Refresher(
        tokens=tokens,
        providers=EnabledProviders(
            ProjectProviders(
                list(settings.engine.auth.providers),
                parts.redis,
                parts.cipher,
                prefix=settings.keyspace().grouped("providers"),
            )
        ),
        client=ProviderClient(client, clock=clock.now, timeout=config.http_timeout_seconds),
        clock=clock,
        policy=settings.refresh_policy(),
        settings=config,
        leases=leases,
        counts=counts,
    )
    handlers.register(parts.server, refresher, workers=config.rpc_workers, counts=counts)
    scheduler = Scheduler(tokens, refresher, clock, config, leases)
    parts.samplers.append(schedule_sampler(parts.tokens.schedule))
    app = FastStream(parts.broker, logger=None)

    @app.after_startup
    async def started() -> None:
        await infra.start(parts)
        leases.start()
        counts.start()
        scheduler.start()
        log.info(
            "refresher.started",
            concurrency=config.concurrency,
            lease_seconds=config.lease_seconds,
            lock_ttl_seconds=config.lock_ttl_seconds,
        )

    @app.on_shutdown
    async def stopping() -> None:
        await scheduler.stop(grace=settings.runtime.graceful_timeout / 2)
        await infra.stop(parts)  # on-demand refreshes still running finish with the HTTP client
        await leases.stop()
        await counts.stop()
        await client.aclose()

    return Service(app, parts.server)


def schedule_sampler(schedule: RefreshSchedule) -> Sampler:
    """The refresh schedule's depth, how late its most overdue entry is, and how many connections
    wait for a new consent, for /metrics."""

    async def sample() -> None:
        metrics.SCHEDULE_DEPTH.set(await schedule.depth())
        due = await schedule.next_due()
        metrics.SCHEDULE_LAG.set(gauges.age_seconds(due.timestamp() if due else None))
        metrics.NEEDING_REAUTHORIZATION.set(await schedule.needing_reauthorization())

    return sample
