"""Composition root of the gateway: FastAPI with a lifespan that owns the NATS connection."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from faststream.nats import NatsBroker
from starlette.types import ASGIApp

from services.gateway import errors, openapi
from services.gateway import metrics as gateway_metrics
from services.gateway.adapters import CompletionWaiters
from services.gateway.body_limit import BodyLimit
from services.gateway.completion_lane import CompletionLane
from services.gateway.console import activity as console_activity
from services.gateway.console import pages as console_pages
from services.gateway.console import sign_in as console_sign_in
from services.gateway.console import user_pages
from services.gateway.console.signing import Signer
from services.gateway.console.web import install_handlers as install_console
from services.gateway.domain import ApiKeys, Principal
from services.gateway.fast_lane import FastLane
from services.gateway.limits import AnswerDeadline
from services.gateway.mcp.wiring import McpGateways
from services.gateway.middleware import RequestLog, route_of
from services.gateway.project_paths import ProjectPaths
from services.gateway.routes import (
    admin_auth,
    auth,
    auth_pages,
    chat,
    contextual_access,
    engine_info,
    executions,
    health,
    mcp_gateways,
    project_gateways,
    session_settings,
    tool_requirements,
)
from services.gateway.routes import secrets as secrets_routes
from services.gateway.routes import tools as tools_routes
from services.gateway.routes import webhooks as webhooks_routes
from services.gateway.routes import workers as workers_routes
from services.gateway.settings import GatewaySettings
from shared.bus.access import service_broker
from shared.bus.answer_cache import AnswerCache, StaleNotices
from shared.bus.flushing import reach_server
from shared.bus.messaging import RpcClient
from shared.bus.rpc import RpcServer, add_health
from shared.errors import ConfigError
from shared.runtime import tracing
from shared.runtime.logging import get_logger
from shared.runtime.metrics import exposition
from shared.runtime.ops import ReadinessCheck, readiness
from shared.runtime.service import freeze_startup_heap
from shared.runtime.settings import Settings

log = get_logger(__name__)


def create_app(settings: Settings) -> FastAPI:
    """Build the gateway app; the broker connects when the lifespan starts."""
    gw = GatewaySettings.from_settings(settings)
    if not gw.api_keys:
        raise ConfigError("no API key: set VALETKEY_API_KEY or api.keys", key="api.keys")
    broker = service_broker(settings.runtime, service="gateway")
    seal = settings.bus_seal()  # the bus key only: the gateway holds no root key
    pings = RpcServer(seal=seal)
    add_health(pings, service="gateway", instance=settings.runtime.instance)
    waiters = CompletionWaiters()
    answers = AnswerCache(
        seconds=gw.answer_cache_seconds, max_entries=gw.answer_cache_entries, metrics=gateway_metrics
    )
    notices = StaleNotices(answers)
    api_keys = ApiKeys(
        (k.key.get_secret_value(), Principal(project=k.project, role=k.role)) for k in gw.api_keys
    )

    def rpc() -> RpcClient:
        client: RpcClient = app.state.rpc
        return client

    mcp = McpGateways(settings, api_keys, rpc, waiters)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await broker.start()
        nc = broker.connection
        await waiters.start(nc)
        if answers.enabled:
            await notices.start(nc)
        await pings.start(nc)
        await reach_server(nc)
        app.state.rpc = RpcClient(nc, seal=seal, timeout=settings.runtime.rpc_timeout)
        app.state.llm = chat.llm_upstream(settings)
        freeze_startup_heap()
        gw: GatewaySettings = app.state.gateway
        log.debug(  # what an operator checks first when a limit surprises them
            "gateway.limits",
            max_body_bytes=gw.max_body_bytes,
            read_timeout=gw.read_timeout,
            write_timeout=gw.write_timeout,
            rate_limited=gw.rate_limit is not None,
        )
        async with mcp.running():
            yield
        await app.state.llm.aclose()
        await waiters.stop()
        await notices.stop()
        await pings.stop(grace=1.0)
        await broker.stop()

    app = FastAPI(
        title="valetkey",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs",
        # Off: FastAPI would ask OpenTelemetry on every request whether it is set up, and its
        # spans would repeat ours (create_server's, around the fast lane too) with the callback's
        # code in their URL attributes.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.gateway = gw
    app.state.api_keys = api_keys
    # Read once: settings do not change while the gateway runs.
    app.state.execute_timeout = tools_routes.execute_timeout(settings)
    # The console's cookie and the end-user links are signed with a key derived from the API keys.
    app.state.console_signer = Signer(k.key.get_secret_value() for k in gw.api_keys)
    app.state.waiters = waiters
    app.state.answers = answers
    app.state.broker = broker
    _rate_counting(app, settings, gw)
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=gw.max_body_bytes, read_timeout=gw.read_timeout)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(auth_pages.router)
    app.include_router(admin_auth.router)
    app.include_router(tool_requirements.router)
    app.include_router(tools_routes.router)
    app.include_router(executions.router)
    app.include_router(executions.admin)
    app.include_router(workers_routes.router)
    app.include_router(secrets_routes.router)
    app.include_router(webhooks_routes.router)
    app.include_router(mcp_gateways.router)
    app.include_router(contextual_access.plugins)
    app.include_router(contextual_access.hooks)
    app.include_router(chat.router)
    app.include_router(engine_info.router)
    app.include_router(project_gateways.router)
    app.include_router(session_settings.admin)
    app.include_router(session_settings.router)
    app.state.mcp_gateways = mcp.directory
    app.router.routes.extend(mcp.routes())
    app.include_router(user_pages.admin)
    app.include_router(user_pages.pages)
    app.include_router(console_sign_in.router)
    app.include_router(console_pages.router)
    app.include_router(console_activity.router)
    install_console(app)
    openapi.install(app)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    @app.get("/livez", include_in_schema=False)
    async def livez() -> JSONResponse:
        """The loop answers; no dependency is asked, so an outage never restarts the pod."""
        return JSONResponse({"live": True})

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Ready while the gateway's NATS connection is up (it keeps no other dependency)."""
        ready, states = await readiness({"nats": _connected(broker)})
        return JSONResponse({"ready": ready, "checks": states}, status_code=200 if ready else 503)

    return app


def _connected(broker: NatsBroker) -> ReadinessCheck:
    async def check() -> bool:
        return broker.connection.is_connected

    return check


class _Uvicorn(uvicorn.Server):
    """uvicorn re-raises SIGTERM after a graceful shutdown; a drained gateway exits 0 like the others.

    ``draining`` runs when the shutdown begins, before uvicorn waits for open requests:
    the long-polls answer at once instead of outliving the grace period.
    """

    def __init__(self, config: uvicorn.Config, draining: Callable[[], None]) -> None:
        super().__init__(config)
        self._draining = draining

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._draining()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


class GatewayServer:
    """Runs uvicorn inside the caller's event loop; SIGTERM drains in-flight requests."""

    def __init__(self, server: uvicorn.Server) -> None:
        self.server = server

    async def run(self) -> None:
        await self.server.serve()


def _limited(asgi: ASGIApp, app: FastAPI, gw: GatewaySettings) -> ASGIApp:
    """``api.write_timeout`` and ``api.rate_limit``'s per-key count around everything the gateway
    answers."""
    if gw.write_timeout is not None:
        asgi = AnswerDeadline(asgi, seconds=gw.write_timeout)
    if gw.rate_limit is not None:
        from services.gateway.rate_limit import RateLimit  # loaded only with a rate limit (app.py)

        limit, window = gw.rate_limit.limit, gw.rate_limit.window_seconds
        asgi = RateLimit(asgi, counter=app.state.rate_counter, limit=limit, window_seconds=window)
    return asgi


def _rate_counting(app: FastAPI, settings: Settings, gw: GatewaySettings) -> None:
    """With ``api.rate_limit``, its Redis counter and the per-user limit on ``app.state``.

    Imported here: without a rate limit the gateway loads no Redis client at all.
    """
    app.state.user_limit = None
    if gw.rate_limit is None:
        return
    from services.gateway.rate_limit import RateCounter, UserLimit
    from shared.runtime.redisio import create_redis, redis_options

    own = gw.rate_limit.redis
    url = own.url() if own is not None else settings.runtime.redis_url
    options = own.client_options() if own is not None else redis_options(url, settings.runtime)
    redis = create_redis(url, **options)
    app.state.rate_counter = RateCounter(redis, prefix=settings.runtime.key_prefix)
    if gw.rate_limit.user_limit is not None:
        window = gw.rate_limit.window_seconds
        app.state.user_limit = UserLimit(
            app.state.rate_counter, limit=gw.rate_limit.user_limit, window_seconds=window
        )


def create_server(settings: Settings) -> GatewayServer:
    """The server ``python -m services.gateway`` runs."""
    app = create_app(settings)
    gw: GatewaySettings = app.state.gateway
    # One log line per request, whichever of the two answers it, a refused one included.
    lane: ASGIApp = FastLane(
        app, max_body_bytes=gw.max_body_bytes, read_timeout=gw.read_timeout, answers=app.state.answers
    )
    lane = CompletionLane(lane, app)  # the callback and the long-poll (completion_lane.py)
    if settings.runtime.check_responses:  # beneath ProjectPaths: it reads the route that answered
        from services.gateway.response_check import ResponseCheck  # jsonschema only when asked

        lane = ResponseCheck(lane, app.openapi)
    asgi: ASGIApp = RequestLog(_limited(ProjectPaths(lane), app, gw))
    if tracing.enabled():  # the HTTP server span, outside the log line so the line carries its trace id
        asgi = tracing.http_server(asgi, route_of=route_of)
    config = uvicorn.Config(
        asgi,
        host=gw.host,
        port=gw.port,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=int(settings.runtime.graceful_timeout),
        # api.idle_timeout: how long a kept-alive connection may wait for its next request.
        timeout_keep_alive=int(gw.idle_timeout) if gw.idle_timeout is not None else 5,
    )
    return GatewayServer(_Uvicorn(config, app.state.waiters.drain))
