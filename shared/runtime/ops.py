"""A small HTTP port for the services that have no HTTP of their own: metrics and probes.

``VALETKEY_OPS_PORT`` (the Helm chart sets 9464) turns it on; off by default, so several
services on one host (``make up``) need no ports. It serves:

- ``/metrics``: Prometheus' text format (``shared.runtime.metrics`` and the service's own);
- ``/livez``: 200 while the event loop answers; it asks no dependency, so an outage of
  NATS or Redis never gets a pod restarted;
- ``/readyz``: 200 when every readiness check passes (NATS connected, Redis answering,
  the service's subjects served), else 503 naming what is not ready.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from shared.runtime.gauges import Sampler, sample
from shared.runtime.metrics import exposition

ReadinessCheck = Callable[[], Awaitable[bool]]
CHECK_TIMEOUT_S = 0.5


async def passes(check: ReadinessCheck) -> bool:
    """One check, failed by any error or by taking longer than ``CHECK_TIMEOUT_S``."""
    try:
        return await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except Exception:  # not ready is the answer to any failure
        return False


async def readiness(checks: dict[str, ReadinessCheck]) -> tuple[bool, dict[str, bool]]:
    results = await asyncio.gather(*(passes(check) for check in checks.values()))
    states = dict(zip(checks, results, strict=True))
    return all(results), states


def service_checks(
    connected: Callable[[], bool], redis_ping: Callable[[], Awaitable[object]], serving: Callable[[], bool]
) -> dict[str, ReadinessCheck]:
    """Readiness of a NATS service: its connection is up, its Redis answers, its subjects are served."""

    async def nats() -> bool:
        return connected()

    async def redis() -> bool:
        await redis_ping()
        return True

    async def subjects() -> bool:
        return serving()

    return {"nats": nats, "redis": redis, "subjects": subjects}


class OpsServer:
    """Serves ``/metrics``, ``/livez`` and ``/readyz`` on ``host:port``."""

    def __init__(
        self,
        port: int,
        checks: dict[str, ReadinessCheck],
        *,
        samplers: Sequence[Sampler] = (),
        host: str = "0.0.0.0",  # noqa: S104 - a pod's probes come from its node
    ) -> None:
        self._port, self._host, self._checks, self._samplers = port, host, checks, samplers
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, _: web.Request) -> web.Response:
        await sample(self._samplers)
        body, content_type = exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _livez(self, _: web.Request) -> web.Response:
        return web.json_response({"live": True})

    async def _readyz(self, _: web.Request) -> web.Response:
        ready, states = await readiness(self._checks)
        return web.Response(
            text=json.dumps({"ready": ready, "checks": states}),
            status=200 if ready else 503,
            content_type="application/json",
        )
