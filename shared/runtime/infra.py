"""Infrastructure every FastStream service builds the same way in its composition root.

Nothing connects at construction; :func:`start` runs in the app's startup hook, after
the broker connected, and :func:`stop` in its shutdown hook.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from faststream.nats import NatsBroker
from nats.js import JetStreamContext
from redis.asyncio import Redis

from shared.bus.access import service_broker
from shared.bus.flushing import reach_server
from shared.bus.messaging import RpcClient, ensure_streams
from shared.bus.outbox import Outbox, OutboxRelay
from shared.bus.rpc import RpcServer, add_health
from shared.bus.sealing import BusSeal
from shared.runtime import gauges, keycheck
from shared.runtime.background import Background
from shared.runtime.crypto import Cipher
from shared.runtime.gauges import Sampler
from shared.runtime.ops import OpsServer, service_checks
from shared.runtime.redisio import service_redis
from shared.runtime.service import freeze_startup_heap
from shared.runtime.settings import Settings
from shared.tokens.store import TokenStore


@dataclass
class Infra:
    """The clients a service shares across its handlers."""

    service: str
    settings: Settings
    broker: NatsBroker
    redis: Redis
    cipher: Cipher
    tokens: TokenStore
    server: RpcServer
    seal: BusSeal
    background: Background = field(default_factory=Background)
    relay: OutboxRelay | None = None
    rpc: RpcClient | None = None
    js: JetStreamContext | None = field(default=None)
    ops: OpsServer | None = None
    keycheck: asyncio.Task[None] | None = None
    # what the ops port's /metrics reads at each scrape, beside the outbox (gauges.py)
    samplers: list[Sampler] = field(default_factory=list)


def build(settings: Settings, *, service: str) -> Infra:
    """Create (not connect) the broker, bus seal, Redis client, cipher, token store and RPC server
    (with health)."""
    broker = service_broker(settings.runtime, service=service)
    seal = settings.bus_seal()
    server = RpcServer(seal=seal)
    redis = service_redis(settings.runtime)
    add_health(server, service=service, instance=settings.runtime.instance, checks={"redis": redis.ping})
    cipher = settings.cipher()
    tokens = TokenStore(redis, cipher, settings.refresh_policy(), keyspace=settings.keyspace())
    return Infra(
        service=service,
        settings=settings,
        broker=broker,
        redis=redis,
        cipher=cipher,
        tokens=tokens,
        server=server,
        seal=seal,
    )


async def start(infra: Infra) -> None:
    """After the broker connected: clients, streams and the relay first, then serve RPC and make
    sure the subscriptions reached the server."""
    settings = infra.settings
    infra.keycheck = await keycheck.verify_at_start(
        infra.redis,
        infra.cipher,
        prefix=settings.runtime.key_prefix,
        file=str(settings.runtime.config),
        keyspace=infra.tokens.keyspace,
    )
    nc = infra.broker.connection
    infra.tokens.stale.attach(nc)  # token writes tell the gateways from here on (shared/bus/answers.py)
    infra.rpc = RpcClient(nc, seal=infra.seal, timeout=infra.settings.runtime.rpc_timeout)
    infra.js = nc.jetstream()
    await ensure_streams(infra.js, replicas=settings.runtime.jetstream_replicas)
    infra.relay = OutboxRelay(infra.tokens.outbox, infra.js)
    infra.relay.start()
    infra.relay.wake()  # events left by a previous run go out first
    await infra.server.start(nc)
    # the subscriptions reach the server before we report ready; else a first request gets NoResponders
    await reach_server(nc)
    if infra.settings.runtime.ops_port:
        checks = service_checks(lambda: nc.is_connected, infra.redis.ping, lambda: infra.server.serving)
        samplers = [outbox_sampler(infra.tokens.outbox), *infra.samplers]
        infra.ops = OpsServer(infra.settings.runtime.ops_port, checks, samplers=samplers)
        await infra.ops.start()
    freeze_startup_heap()


def outbox_sampler(outbox: Outbox) -> Sampler:
    async def sample() -> None:
        gauges.OUTBOX_DEPTH.set(await outbox.depth())
        gauges.OUTBOX_LAG.set(gauges.age_seconds(await outbox.oldest()))

    return sample


async def stop(infra: Infra) -> None:
    """Drain the RPC subjects and the work they left, stop the relay (draining what it can), close Redis."""
    grace = infra.settings.runtime.graceful_timeout / 2
    if infra.keycheck is not None:
        infra.keycheck.cancel()
    await infra.server.stop(grace=grace)  # /readyz says not ready from here on
    if infra.ops is not None:
        await infra.ops.stop()
    await infra.background.drain(timeout=grace)
    if infra.relay is not None:
        await infra.relay.stop()
    await infra.redis.aclose()
