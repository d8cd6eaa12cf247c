"""The common ``__main__`` of a service: settings once, logging once, then run until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from faststream import FastStream

from shared.bus.rpc import RpcServer
from shared.errors import ConfigError
from shared.runtime.logging import configure_logging, sample_request_lines
from shared.runtime.metrics import record_requests
from shared.runtime.settings import Settings, load_settings
from shared.runtime.tracing import setup_tracing


class Runnable(Protocol):
    async def run(self) -> None: ...


@dataclass(frozen=True)
class Service:
    """A NATS service: its FastStream app, and the request-reply subjects it serves beside it."""

    app: FastStream
    rpc: RpcServer

    async def run(self) -> None:
        await self.app.run()


def freeze_startup_heap() -> None:
    """Move everything built at start-up out of the collector's reach.

    Those objects live as long as the process; left in the oldest generation, every full
    collection walks them again, which paused the loop for ~50 ms under load (measured
    on webhook deliveries, docs/webhooks.md). Call once, when started.
    """
    gc.collect()
    gc.freeze()


def main(service: str, build: Callable[[Settings], Runnable]) -> None:
    """Load settings, set up tracing and logging, run ``build(settings)``; a bad config exits 2."""
    try:
        settings = load_settings(service=service)
        # Off unless OTEL_* asks for it; engine.yaml's telemetry names the environment and version.
        traced = setup_tracing(service, telemetry=settings.engine.telemetry)
        record_requests(settings.runtime.metrics)
        sample_request_lines(settings.runtime.request_log_sample)
        configure_logging(
            service=service,
            level=settings.log_level(),
            json_output=settings.log_json(),
            trace_ids=traced,
        )
        app = build(settings)
        with contextlib.suppress(KeyboardInterrupt):
            _run(app.run())  # a check at start (the root key's) may still refuse the config
    except ConfigError as exc:
        print(f"valetkey {service}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def _run(main_coroutine: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed (it comes with uvicorn[standard]): faster sockets for NATS,
    Redis and HTTP alike."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_coroutine)
        return
    uvloop.run(main_coroutine)
