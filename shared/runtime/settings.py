"""Typed settings, read once at start by each service's ``__main__`` and passed down.

Two sources: the process environment (``VALETKEY_*``, plus ``NATS_URL``/``REDIS_URL``)
for where things run, and ``engine.yaml`` (path in ``VALETKEY_CONFIG``) for what the
engine does. Nothing here is read at import time.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from shared.bus.sealing import BusSeal
from shared.contracts.authorization import CALLBACK_PATH
from shared.contracts.common import DEFAULT_PROJECT
from shared.errors import ConfigError
from shared.runtime.config import ApiKeyConfig, EngineConfig, RootKeyConfig
from shared.runtime.config_loading import load_engine_config
from shared.runtime.crypto import DEVELOPMENT_KEY_VALUE, WEBHOOK_KEYS, Cipher, RootKey, check_root_keys
from shared.runtime.keyspace import Keyspace, shard_count
from shared.tokens.model import RefreshPolicy

DEFAULT_NATS_URL = "nats://127.0.0.1:14222"
DEFAULT_REDIS_URL = "redis://127.0.0.1:16379/0"
# The bus key of development mode when engine.yaml names none (never accepted outside it).
DEVELOPMENT_BUS_KEY = "valetkey-development-only-bus-key"
MIN_BUS_KEY = 16


class RuntimeSettings(BaseModel):
    """Where the process runs and how it logs.

    Read from ``VALETKEY_<FIELD>`` variables, plus ``NATS_URL`` and ``REDIS_URL``.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    config: Path = Path("engine.yaml")
    # One URL, or a NATS cluster's seed URLs separated by commas (docs/scaling.md, "A cluster").
    nats_url: str = DEFAULT_NATS_URL
    redis_url: str = DEFAULT_REDIS_URL
    api_key: SecretStr | None = None
    development: bool | None = None
    # Unset: engine.yaml's telemetry.logging decides (Settings.log_level), else INFO.
    log_level: str | None = None
    log_json: bool | None = None
    key_prefix: str = "vk"
    instance: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    rpc_timeout: float = Field(default=10.0, gt=0)
    graceful_timeout: float = Field(default=15.0, gt=0)
    # Per request to a provider's token or user-info endpoint, from the authorizer.
    provider_timeout: float = Field(default=10.0, gt=0, le=120)
    # How much longer than ``provider_timeout`` a callback may take over its code exchange
    # before the authorizer's sweeper takes it for interrupted (a crash) and fails it.
    exchange_grace: float = Field(default=5.0, gt=0, le=120)
    # The gateway listens here instead of engine.yaml's api.port (a second gateway on one host, as
    # `make cluster-up` runs them); api.public_url is left as it is.
    http_port: int | None = Field(default=None, ge=1, le=65535)
    # Record the per-request metrics (HTTP, NATS); false only to measure what they cost (runtime/metrics.py).
    metrics: bool = True
    # The gateway checks each JSON answer against its own OpenAPI document as a strict generated
    # client decodes it, and logs ``wire.response_unfit`` for one that does not fit (the test suite
    # turns it on for every engine; services/gateway/response_check.py). Off: it costs a schema
    # validation per answer.
    check_responses: bool = False
    # Write one answered request's INFO line (the gateway's http.request, a service's rpc.handled)
    # in this many; every failed request's is written. 1, the default: every line (logging.py).
    request_log_sample: int = Field(default=1, ge=1, le=1_000_000)
    # The gateway repeats a completed status or tools.authorize answer, and the executor reuses a
    # token record it read, for this many seconds at most (shared/bus/answer_cache.py; an answer
    # never past the token's refresh point); 0: off.
    answer_cache_seconds: float = Field(default=2.0, ge=0, le=3600)
    # The most answers (token records) that cache holds.
    answer_cache_entries: int = Field(default=10_000, ge=1, le=10_000_000)
    # /metrics, /livez and /readyz for a service without HTTP (shared/runtime/ops.py); off when unset.
    ops_port: int | None = Field(default=None, ge=1, le=65535)
    # This service's NATS user (docs/nats.md, "Credentials"): a user and password, or a .creds / nkey
    # seed file; none connects without credentials. A CA bundle for tls:// servers.
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    nats_creds: Path | None = None
    nats_ca: Path | None = None
    # Redis's password (or this service's ACL user's, the user named in the URL); a password in the
    # URL wins. A CA bundle for rediss:// servers.
    redis_password: SecretStr | None = None
    redis_ca: Path | None = None
    # Hash-slot groups of the keys (engine.yaml ``redis.shards``, which this overrides).
    redis_shards: int | None = Field(default=None, ge=1, le=1024)
    # Copies JetStream keeps of each stream: 1 on one nats-server, 3 on a cluster of three or more.
    jetstream_replicas: int = Field(default=1, ge=1, le=5)

    @property
    def nats_servers(self) -> list[str]:
        """The seed URLs in ``nats_url``; the client reconnects to any of them and to the servers
        the cluster announces."""
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]


class Settings(BaseModel):
    """Everything a service needs to know, validated together."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    runtime: RuntimeSettings
    engine: EngineConfig

    @property
    def development(self) -> bool:
        if self.runtime.development is not None:
            return self.runtime.development
        return self.engine.api.development

    @property
    def public_url(self) -> str:
        """The gateway's external base URL (for the OAuth redirect URI)."""
        api = self.engine.api
        if api.public_url:
            return api.public_url.rstrip("/")
        host = api.public_host or api.host
        return f"http://{host}:{api.port}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}{CALLBACK_PATH}"

    def keyspace(self) -> Keyspace:
        """The Redis key names: ``VALETKEY_REDIS_SHARDS``, else ``redis.shards``, else one shard
        per server (16 on a Redis Cluster)."""
        configured = self.runtime.redis_shards or self.engine.redis.shards
        return Keyspace(self.runtime.key_prefix, shard_count(configured, self.runtime.redis_url))

    def root_keys(self) -> list[RootKey]:
        return _keys(self.engine.security.root_keys)

    def cipher(self) -> Cipher:
        """The token cipher; refuses to build without a usable key outside development."""
        keys = self.root_keys()
        if not keys and self.development:
            keys = [RootKey(id="dev", value="valetkey-development-only-key", default=True)]
        check_root_keys(keys, development=self.development)
        return Cipher(keys)

    def webhook_cipher(self) -> Cipher:
        """The cipher of webhook endpoints' signing secrets (``security.webhook_keys``), which only
        the webhooks service holds; refuses to build without a usable key outside development."""
        keys = _keys(self.engine.security.webhook_keys)
        if not keys and self.development:
            keys = [RootKey(id="dev", value="valetkey-development-only-webhook-key", default=True)]
        check_root_keys(keys, development=self.development, family=WEBHOOK_KEYS)
        return Cipher(keys, WEBHOOK_KEYS)

    def bus_seal(self) -> BusSeal:
        """The seal of every request-reply payload; refuses to build without a usable
        ``security.bus_key`` outside development.

        Raises:
            ConfigError: No bus key, one shorter than 16 characters, or the development default.
        """
        return BusSeal(self.bus_key())

    def bus_key(self) -> str:
        """``security.bus_key``, checked as :meth:`bus_seal` says (the development default in
        development when unset); keys of the gateway's own are derived from it too."""
        configured = self.engine.security.bus_key
        key = configured.get_secret_value() if configured is not None else ""
        if not key and self.development:
            key = DEVELOPMENT_BUS_KEY
        if not self.development and (
            len(key) < MIN_BUS_KEY or key in (DEVELOPMENT_BUS_KEY, DEVELOPMENT_KEY_VALUE)
        ):
            raise ConfigError(
                "a bus key of at least 16 characters is required outside development: it seals "
                "every token and secret on NATS (all services need the same one)",
                key="security.bus_key",
            )
        return key

    def log_level(self) -> str:
        """``VALETKEY_LOG_LEVEL``, else ``telemetry.logging.level``, else INFO."""
        telemetry = self.engine.telemetry
        return self.runtime.log_level or (telemetry.log_level() if telemetry else None) or "INFO"

    def log_json(self) -> bool | None:
        """``VALETKEY_LOG_JSON``, else what ``telemetry`` says (console for ``environment: local``),
        else None: JSON unless stderr is a terminal."""
        if self.runtime.log_json is not None:
            return self.runtime.log_json
        return self.engine.telemetry.json_logs() if self.engine.telemetry else None

    def refresh_policy(self) -> RefreshPolicy:
        refresh = self.engine.refresh
        return RefreshPolicy(
            margin_seconds=refresh.margin_seconds, lifetime_fraction=refresh.lifetime_fraction
        )

    def api_keys(self) -> list[ApiKeyConfig]:
        """``api.keys`` with a value, and ``VALETKEY_API_KEY`` as the default project's admin key."""
        keys = [k for k in self.engine.api.keys if k.key.get_secret_value()]
        if self.runtime.api_key is not None and self.runtime.api_key.get_secret_value():
            keys.append(ApiKeyConfig(key=self.runtime.api_key, project=DEFAULT_PROJECT, role="admin"))
        return keys


def _keys(configured: list[RootKeyConfig]) -> list[RootKey]:
    return [RootKey(id=k.id, value=k.value.get_secret_value(), default=k.default) for k in configured]


def load_settings(env: Mapping[str, str] | None = None, *, service: str | None = None) -> Settings:
    """Read the environment and the engine configuration once (as ``service`` reads it: the
    secrets it never uses may be unset, ``shared.runtime.config_loading.UNUSED_SECRETS``).

    Raises:
        ConfigError: When ``engine.yaml`` is missing or invalid.
    """
    source = dict(os.environ if env is None else env)
    runtime = load_runtime_settings(source)
    return Settings(runtime=runtime, engine=load_engine_config(runtime.config, source, service=service))


def load_runtime_settings(env: Mapping[str, str] | None = None) -> RuntimeSettings:
    """Only the environment's part (no ``engine.yaml``), for tools that just reach NATS or Redis."""
    source = os.environ if env is None else env
    values: dict[str, str] = {k.lower(): source[k] for k in ("NATS_URL", "REDIS_URL") if source.get(k)}
    values.update(
        {k.removeprefix("VALETKEY_").lower(): v for k, v in source.items() if k.startswith("VALETKEY_")}
    )
    return RuntimeSettings.model_validate(values)
