"""Gateway settings: the HTTP listener, taken from ``engine.yaml`` ``api``."""

from __future__ import annotations

from dataclasses import dataclass

from shared.runtime.config import ApiKeyConfig
from shared.runtime.config_arcade import DEFAULT_BODY_LIMIT, RateLimitConfig, byte_size, duration_seconds
from shared.runtime.settings import Settings

LONGEST_WAIT_SECONDS = 59


@dataclass(frozen=True)
class GatewaySettings:
    host: str
    port: int
    public_url: str
    api_keys: list[ApiKeyConfig]
    max_wait_seconds: int = LONGEST_WAIT_SECONDS
    # engine.yaml api's limits (shared/runtime/config_arcade.py); None: not limited.
    max_body_bytes: int = DEFAULT_BODY_LIMIT
    read_timeout: float | None = None
    write_timeout: float | None = None
    idle_timeout: float | None = None
    rate_limit: RateLimitConfig | None = None
    # The answer cache (shared/bus/answer_cache.py): VALETKEY_ANSWER_CACHE_SECONDS (0: off) and
    # VALETKEY_ANSWER_CACHE_ENTRIES.
    answer_cache_seconds: float = 2.0
    answer_cache_entries: int = 10_000

    @classmethod
    def from_settings(cls, settings: Settings) -> GatewaySettings:
        api = settings.engine.api
        write_timeout = _seconds(api.write_timeout)
        # A long-poll answers a second before the deadline would cut it off.
        longest_wait = LONGEST_WAIT_SECONDS if write_timeout is None else max(0, int(write_timeout) - 1)
        return cls(
            host=api.host,
            port=settings.runtime.http_port or api.port,
            public_url=settings.public_url,
            api_keys=settings.api_keys(),
            max_wait_seconds=min(LONGEST_WAIT_SECONDS, longest_wait),
            max_body_bytes=byte_size(api.max_request_body_size or DEFAULT_BODY_LIMIT),
            read_timeout=_seconds(api.read_timeout),
            write_timeout=write_timeout,
            idle_timeout=_seconds(api.idle_timeout),
            rate_limit=api.rate_limit if api.rate_limit and api.rate_limit.enabled else None,
            answer_cache_seconds=settings.runtime.answer_cache_seconds,
            answer_cache_entries=settings.runtime.answer_cache_entries,
        )


def _seconds(duration: str | None) -> float | None:
    return None if duration is None else duration_seconds(duration)
