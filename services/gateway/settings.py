"""Gateway settings: the HTTP listener, taken from ``engine.yaml`` ``api``."""

from __future__ import annotations

from dataclasses import dataclass

from shared.runtime.config import ApiKeyConfig
from shared.runtime.settings import Settings


@dataclass(frozen=True)
class GatewaySettings:
    host: str
    port: int
    public_url: str
    api_keys: list[ApiKeyConfig]
    max_wait_seconds: int = 59

    @classmethod
    def from_settings(cls, settings: Settings) -> GatewaySettings:
        api = settings.engine.api
        return cls(
            host=api.host,
            port=settings.runtime.http_port or api.port,
            public_url=settings.public_url,
            api_keys=settings.api_keys(),
        )
