"""Request-reply on ``nats.micro``: each service process is a micro service, each subject an endpoint.

``nats.micro`` (part of nats-py) provides the endpoints, their queue groups, the
``Nats-Service-Error`` headers and the ``$SRV.PING|INFO|STATS`` discovery subjects. It was
chosen over FastStream subscribers by measurement (``python -m bench rpc``; numbers in
docs/nats.md): a FastStream subscriber costs about four times the CPU per message, and every
hot API call is one request-reply. FastStream still owns the connection, its lifecycle,
the broadcasts and JetStream, and still documents these subjects: :meth:`RpcServer.describe`
registers each route on a broker that is never started, for the AsyncAPI documents.

What this module adds to micro, and only that:

- the reply envelope (``shared/bus/messaging.py``): every request is validated into its contract and
  answered ``{"ok": ...}``; an error reply also carries micro's error headers;
- sealing (``shared/bus/sealing.py``): a request is opened under the bus key before it is decoded
  and its reply sealed to it; one that does not open is refused with micro's error headers, never run;
- bounded concurrency: nats-py hands an endpoint its next message only once the previous one
  returned, so each endpoint runs up to ``workers`` requests as tasks; beyond that the
  subscription's own queue holds them (backpressure, not loss);
- draining: micro's ``stop()`` unsubscribes its endpoints, which drops requests already sent to
  this replica; :meth:`RpcServer.stop` drains them first, so queued requests are still answered
  and running ones finish.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from nats import micro
from nats.aio.client import Client as NatsClient
from nats.micro.request import Request
from nats.micro.service import Service as MicroService
from nats.micro.service import ServiceConfig
from pydantic import BaseModel

from shared.bus import subjects
from shared.bus.messaging import RPC_WORKERS, Reply, Result, answer
from shared.bus.sealing import BusSeal, is_sealed
from shared.contracts.common import Ping, Pong
from shared.errors import SealError
from shared.runtime import metrics, tracing
from shared.runtime.logging import get_logger

log = get_logger(__name__)

UseCase = Callable[[Any], Awaitable[Result]]
_NOT_A_NAME = re.compile(r"[^A-Za-z0-9_-]")


def _version() -> str:
    try:
        return metadata.version("valetkey")
    except metadata.PackageNotFoundError:  # run from a source tree that was not installed
        return "0.0.0"


@dataclass(frozen=True)
class Route:
    """One request-reply subject: its request contract and the use case that answers it.

    Args:
        queue: Queue group (one replica answers); ``None`` for subjects every replica answers.
        workers: Messages of this subject handled at once.
        name: The micro endpoint's name.
        seal: The bus seal its payloads travel under; ``None`` for a replica's own health ping.
    """

    subject: str
    model: type[BaseModel]
    use_case: UseCase
    queue: str | None = None
    workers: int = RPC_WORKERS
    name: str = ""
    seal: BusSeal | None = None


@dataclass
class RpcServer:
    """The request-reply subjects of one service process, served as the micro service ``service``.

    Args:
        service: The micro service's name (``$SRV.PING.<service>``); :func:`add_health` sets it.
        instance: This replica, in the micro service's metadata.
        seal: The bus seal; every subject but a replica's own health ping needs it
            (``shared/bus/sealing.py``).
    """

    service: str = "valetkey"
    instance: str = ""
    seal: BusSeal | None = None
    routes: list[Route] = field(default_factory=list)
    _micro: MicroService | None = None
    _running: set[asyncio.Task[None]] = field(default_factory=set)

    def add(
        self,
        subject: str,
        model: type[BaseModel],
        use_case: UseCase,
        *,
        queue: str | None = None,
        workers: int = RPC_WORKERS,
        name: str = "",
    ) -> None:
        """Declare a subject; it becomes an endpoint when :meth:`start` runs.

        Raises:
            ValueError: A sealed subject on a server built without the bus seal.
        """
        label = name or getattr(use_case, "__name__", "") or subject.rsplit(".", 1)[-1]
        seal = self.seal if is_sealed(subject) else None
        if seal is None and is_sealed(subject):
            raise ValueError(f"{subject} is sealed: the RpcServer needs the bus seal")
        route = Route(subject, model, use_case, queue, workers, _NOT_A_NAME.sub("_", label), seal)
        self.routes.append(route)

    async def start(self, nc: NatsClient) -> None:
        """Start the micro service and add every route as an endpoint; call before ``nc.flush()``."""
        about = {"instance": self.instance} if self.instance else {}
        config = ServiceConfig(
            name=self.service, version=_version(), description=f"valetkey {self.service}", metadata=about
        )
        service = self._micro = await micro.add_service(nc, config)
        for route in self.routes:
            # No queue group: a group of this process alone, so every replica answers.
            await service.add_endpoint(
                name=route.name,
                subject=route.subject,
                queue_group=route.queue or service.id,
                handler=self._handler(route),
            )

    @property
    def serving(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._micro is not None

    def _handler(self, route: Route) -> Callable[[Request], Awaitable[None]]:
        slots = asyncio.Semaphore(route.workers)

        def finished(task: asyncio.Task[None]) -> None:
            self._running.discard(task)
            slots.release()

        async def dispatch(request: Request) -> None:
            # nats-py awaits this before the endpoint's next message: waiting for a slot is the backpressure.
            await slots.acquire()
            task = asyncio.create_task(_serve(route, request))
            self._running.add(task)
            task.add_done_callback(finished)

        return dispatch

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking requests, answer the queued ones, wait up to ``grace`` s for running ones."""
        service, self._micro = self._micro, None
        if service is not None:
            try:
                await asyncio.wait_for(_drain(service), grace)
            except Exception as exc:  # a closed or reconnecting connection cannot drain
                log.warning("rpc.drain_failed", service=self.service, error=type(exc).__name__)
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=grace)
            for task in pending:
                task.cancel()

    def describe(self, broker: Any) -> None:
        """Register every route on ``broker`` (a never-started ``NatsBroker``) for its AsyncAPI document."""
        for route in self.routes:
            broker.subscriber(route.subject, queue=route.queue or "", title=f"{route.subject}:{route.name}")(
                _documented(route)
            )


async def _serve(route: Route, request: Request) -> None:
    # With tracing on, a server span continuing the caller's trace from the request's headers.
    with tracing.nats_serve(route.subject, request.headers) as span:
        started = time.perf_counter()
        if route.seal is None:
            reply = await answer(route.model, request.data, route.use_case)
        else:
            try:
                body, request_id = route.seal.open_request(route.subject, request.data)
            except SealError as exc:
                await _refuse(route, request, exc)
                return
            reply = await answer(route.model, body, route.use_case)
            reply = Reply(route.seal.seal_reply(route.subject, request_id, reply.data), reply.error)
        metrics.nats_request(route.subject, reply.error is None, time.perf_counter() - started)
        if reply.error is not None:
            tracing.mark_failed(span, reply.error.code)
        try:
            await _send(request, reply)
        except ValueError:  # no reply subject: a publish, nobody waits for an answer
            return
        except Exception as exc:  # the connection went away: the caller times out and retries
            log.warning("rpc.reply_failed", subject=route.subject, error=type(exc).__name__)


async def _refuse(route: Route, request: Request, error: SealError) -> None:
    """A request that does not open is never run: its refusal goes back unsealed, in micro's error
    headers alone (nothing to seal it to), and the caller reports it (``RpcClient``)."""
    log.warning("rpc.unsealed_refused", subject=route.subject, detail=error.message)
    metrics.nats_request(route.subject, False, 0.0)
    try:
        await request.respond_error(str(error.status), f"{error.code}: {error.message}")
    except Exception:  # no reply subject, or the connection went away: nothing else to do
        return


async def _send(request: Request, reply: Reply) -> None:
    if reply.error is None:
        await request.respond(reply.data)
    else:  # micro's convention (Nats-Service-Error[-Code]) beside the envelope the gateway reads
        await request.respond_error(str(reply.error.status), reply.error.code, data=reply.data)


async def _drain(service: MicroService) -> None:
    """Drain the endpoints' subscriptions, then let micro stop its PING/INFO/STATS subscriptions.

    micro's ``stop()`` would unsubscribe the endpoints, dropping requests the server already sent
    us; nats-py offers no other way to reach an endpoint's subscription than its attributes.
    """
    endpoints, service._endpoints = list(service._endpoints), []
    await asyncio.gather(*(e._subscription.drain() for e in endpoints if e._subscription is not None))
    await service.stop()


async def _reachable(check: DependencyCheck) -> bool:
    try:
        await asyncio.wait_for(check(), DEPENDENCY_TIMEOUT_S)
    except Exception:  # any failure, a timeout included, means "not reachable now"
        return False
    return True


def _documented(route: Route) -> Callable[..., Awaitable[bytes]]:
    """A handler whose signature carries the route's request contract, for FastStream to describe."""

    async def handler(body: Any) -> bytes:
        return (await answer(route.model, body, route.use_case)).data

    handler.__annotations__ = {"body": route.model, "return": dict[str, Any]}
    handler.__name__ = route.name
    handler.__doc__ = inspect.getdoc(route.use_case)
    return handler


DependencyCheck = Callable[[], Awaitable[object]]
DEPENDENCY_TIMEOUT_S = 0.5


def add_health(
    server: RpcServer, *, service: str, instance: str, checks: dict[str, DependencyCheck] | None = None
) -> None:
    """Name the server's micro service after ``service`` and answer pings on the service's health
    subject (a queue group: one replica answers), and on a per-instance subject so a Kubernetes
    probe can ask one pod. Each of ``checks`` (``{"redis": redis.ping}``) is run with a short
    timeout and reported in the answer."""

    async def pong(_: Ping) -> Pong:
        results = await asyncio.gather(*(_reachable(check) for check in (checks or {}).values()))
        return Pong(
            service=service, instance=instance, dependencies=dict(zip(checks or {}, results, strict=True))
        )

    server.service, server.instance = service, instance
    server.add(subjects.health_subject(service), Ping, pong, queue=f"{service}.health", name="ping")
    server.add(subjects.instance_health_subject(service, instance), Ping, pong, name="ping_instance")
