"""The parts of Arcade's ``engine.yaml`` format whose meaning valetkey had to decide: each key is
honoured, or refused at start with an error naming it, never accepted and ignored (docs/config.md).

- ``api.max_request_body_size``: bytes, or a size such as ``512Kb`` / ``1MiB``; at most 1 MiB,
  NATS's default message limit, since a body travels to the services in one message.
- ``api.read_timeout`` / ``write_timeout`` / ``idle_timeout``: durations (``30s``, ``1m``,
  ``500ms``): the time to receive a request's body, to answer it, and to keep an idle
  connection open.
- ``api.rate_limit``: ``{noop: {}}``, or ``{redis: {addr, password, db}, limit, time_unit}``:
  ``limit`` requests per API key per ``time_unit`` (``s``, ``m``, ``h``, ``d``), counted in Redis
  so every gateway replica shares the count; ``redis`` may be left out to count in the engine's
  own Redis (its ``read_timeout``/``write_timeout`` bound each command, the larger of the two);
  ``user_limit`` (valetkey's own) also limits each user of a project.
- ``telemetry``: ``environment: local`` logs as console lines, ``logging.level`` and
  ``logging.encoding`` set the log level and format; traces follow the standard ``OTEL_*``
  variables, as Arcade's do.
- ``storage``, ``cache`` and ``auth.token_store``: refused when set, since valetkey keeps its
  state (tokens included) in Redis and caches in memory on its own terms.
- ``llm.models``: OpenAI-compatible upstreams for ``/v1/chat/completions`` (``{id, openai:
  {base_url, api_key, models}}``); another vendor's block is refused (docs/config.md).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

# The largest body one NATS message carries with the server's default max_payload (1 MiB),
# less room for the envelope around it.
MAX_BODY_LIMIT = 1024 * 1024 - 16 * 1024
DEFAULT_BODY_LIMIT = 512 * 1024

_SIZE = re.compile(r"^\s*(\d+)\s*(b|kb?|kib|mb?|mib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
WINDOW_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def byte_size(value: int | str) -> int:
    """``4194304``, ``"512Kb"``, ``"1MiB"`` as bytes (Arcade writes ``"4Mb"`` for 4 MiB).

    Raises:
        ValueError: Not a size.
    """
    if isinstance(value, int):
        return value
    found = _SIZE.match(value)
    if found is None:
        raise ValueError(f"{value!r} is not a size (bytes, or a number with Kb, Mb or MiB)")
    return int(found[1]) * _SIZE_UNITS[(found[2] or "").lower()]


def duration_seconds(value: str) -> float:
    """``"30s"``, ``"1m"``, ``"500ms"`` as seconds (Go's duration syntax, one unit).

    Raises:
        ValueError: Not a duration.
    """
    found = _DURATION.match(value)
    if found is None:
        raise ValueError(f"{value!r} is not a duration (a number with ms, s, m or h, e.g. 30s)")
    return float(found[1]) * _DURATION_UNITS[found[2]]


class _Arcade(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RedisAddressConfig(_Arcade):
    addr: str = Field(min_length=3, pattern=r"^[^\s/]+:\d+$")
    password: SecretStr | None = None
    db: int = Field(default=0, ge=0)
    # Go durations, as Arcade writes them; redis-py has one timeout for a command's write and its
    # reply, so the larger of the two bounds each (rate_limit.unavailable once its retries end).
    read_timeout: str | None = None
    write_timeout: str | None = None

    @field_validator("read_timeout", "write_timeout")
    @classmethod
    def _positive_duration(cls, value: str | None) -> str | None:
        if value is not None and duration_seconds(value) <= 0:
            raise ValueError("must be longer than zero")
        return value

    def client_options(self) -> dict[str, Any]:
        """The client's options beside :meth:`url`: ``socket_timeout``, the seconds a command may
        take to be written and answered, when either timeout is set."""
        given = [duration_seconds(t) for t in (self.read_timeout, self.write_timeout) if t is not None]
        return {"socket_timeout": max(given)} if given else {}

    def url(self) -> str:
        scheme_auth = "redis://"
        if self.password is not None and self.password.get_secret_value():
            scheme_auth += f":{self.password.get_secret_value()}@"
        return f"{scheme_auth}{self.addr}/{self.db}"


class RateLimitConfig(_Arcade):
    """``limit`` requests per API key per ``time_unit``; ``noop`` turns limiting off explicitly."""

    noop: dict[str, Any] | None = None
    redis: RedisAddressConfig | None = None
    limit: int = Field(default=100, ge=1)
    time_unit: Literal["s", "m", "h", "d"] = "m"
    # valetkey's own: requests per user of a project per time_unit, whatever key sends them.
    user_limit: int | None = Field(default=None, ge=1)

    @property
    def enabled(self) -> bool:
        return self.noop is None

    @property
    def window_seconds(self) -> int:
        return WINDOW_SECONDS[self.time_unit]


class TelemetryLoggingConfig(_Arcade):
    level: Literal["debug", "info", "warn", "warning", "error"] | None = None
    encoding: Literal["console", "json"] | None = None


class TelemetryConfig(_Arcade):
    environment: str | None = None
    version: str | None = None
    logging: TelemetryLoggingConfig | None = None

    def log_level(self) -> str | None:
        level = self.logging.level if self.logging else None
        return {"warn": "WARNING"}.get(level, level.upper()) if level else None

    def json_logs(self) -> bool | None:
        """Console lines for ``environment: local`` or ``encoding: console``; JSON for ``json``."""
        if self.logging is not None and self.logging.encoding is not None:
            return self.logging.encoding == "json"
        return False if self.environment == "local" else None


class OpenAiUpstream(_Arcade):
    """An OpenAI-compatible chat completions API: ``{base_url}/chat/completions``."""

    base_url: str = "https://api.openai.com/v1"
    api_key: SecretStr | None = None
    # The model names routed here; the first model entry takes any name no entry lists.
    models: list[str] = Field(default_factory=list)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")


class LlmModelConfig(_Arcade):
    id: str = Field(min_length=1)
    openai: OpenAiUpstream


class LlmConfig(_Arcade):
    models: list[LlmModelConfig] = Field(default_factory=list)

    def upstream_for(self, model: str | None) -> LlmModelConfig | None:
        """The entry that lists ``model``, else the first one (None with no entry)."""
        for entry in self.models:
            if model and model in entry.openai.models:
                return entry
        return self.models[0] if self.models else None


def refuse_unsupported(storage: Any, cache: Any, token_store: Any = None) -> None:
    """Raise for ``storage``, ``cache`` or ``auth.token_store`` (Arcade's older token store) set to
    anything: valetkey would otherwise ignore them.

    Raises:
        ValueError: One of them is set.
    """
    if storage is not None:
        raise ValueError(
            "storage: valetkey keeps its state in Redis (REDIS_URL), not in a storage Arcade "
            "configures; remove the storage section"
        )
    if cache is not None:
        raise ValueError(
            "cache: valetkey caches in memory on its own terms (nothing to configure); remove the "
            "cache section"
        )
    if token_store is not None:
        raise ValueError(
            "auth.token_store: valetkey keeps tokens in Redis (REDIS_URL), sealed under "
            "security.root_keys; remove auth.token_store"
        )


def api_limits_valid(api: Any) -> Any:
    """Validate ``api``'s size and durations at load, so a typo stops the engine, not a request."""
    if api.max_request_body_size is not None:
        size = byte_size(api.max_request_body_size)
        if not 1 <= size <= MAX_BODY_LIMIT:
            raise ValueError(
                f"api.max_request_body_size: {size} bytes is outside 1..{MAX_BODY_LIMIT} (a body "
                "travels to the services in one NATS message, 1 MiB by default)"
            )
    for name in ("read_timeout", "write_timeout", "idle_timeout"):
        if (value := getattr(api, name)) is not None and duration_seconds(value) <= 0:
            raise ValueError(f"api.{name}: must be longer than zero")
    return api
