"""Gateway settings: the HTTP listener, taken from ``engine.yaml`` ``api``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.runtime.settings import Settings


def otel_configured(environ: Mapping[str, str]) -> bool:
    """Whether the environment sets up OpenTelemetry (``OTEL_*``, or FastAPI's auto-configure)."""
    return environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true" or any(
        name.startswith("OTEL_") for name in environ
    )


@dataclass(frozen=True)
class GatewaySettings:
    host: str
    port: int
    public_url: str
    api_keys: list[str]
    max_wait_seconds: int = 59
    telemetry: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] = os.environ) -> GatewaySettings:
        api = settings.engine.api
        return cls(
            host=api.host,
            port=api.port,
            public_url=settings.public_url,
            api_keys=settings.api_keys(),
            telemetry=otel_configured(environ),
        )
