"""``engine.yaml``: Arcade's engine configuration format, plus valetkey's own sections.

The pydantic models of the whole file (:class:`EngineConfig` and its sections) and the
checks that span sections; the Arcade-specific, ``tools`` and ``redis`` sections live in
``config_arcade.py``, ``config_tools.py`` and ``config_redis.py``. Reading the file,
substituting ``${env:VAR}`` / ``${file:/path}`` and turning validation errors into
:class:`~shared.errors.ConfigError` is ``config_loading.py`` (``load_engine_config``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.contracts.common import DEFAULT_PROJECT
from shared.providers.models import ProviderEntry
from shared.runtime.config_arcade import (
    LlmConfig,
    RateLimitConfig,
    TelemetryConfig,
    api_limits_valid,
    refuse_unsupported,
)
from shared.runtime.config_base import HttpUrlText, Section
from shared.runtime.config_redis import RedisConfig
from shared.runtime.config_tools import ExecutionLoggingConfig, ToolsConfig, worker_problem

#: A project id: it becomes part of Redis key names, so no ``:`` and nothing blank.
PROJECT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
Role = Literal["admin", "agent"]


class ApiKeyConfig(Section):
    """One API key: its project, and what it may do there.

    ``admin`` may do everything in its project; ``agent`` only ``/v1/auth/*``, ``/v1/tools/*``,
    ``/v1/formatted_tools*``, ``/v1/scheduled_tools*``, ``/v1/chat/completions``, ``/v1/config`` and
    ``/v1/health`` (docs/arcade-compatibility.md §1.1).
    """

    key: SecretStr
    project: str = Field(default=DEFAULT_PROJECT, pattern=PROJECT_ID_PATTERN)
    role: Role = "admin"


class ApiConfig(Section):
    development: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=9099, ge=1, le=65535)
    public_url: str | None = None
    public_host: str | None = None
    # A plain string is an admin key of the default project (the shape before projects).
    keys: list[ApiKeyConfig] = Field(default_factory=list)
    read_timeout: str | None = None
    write_timeout: str | None = None
    idle_timeout: str | None = None
    max_request_body_size: int | str | None = None
    rate_limit: RateLimitConfig | None = None
    http: dict[str, Any] | None = None  # 2024 legacy shape, tolerated

    @model_validator(mode="after")
    def _limits_are_valid(self) -> ApiConfig:
        return api_limits_valid(self)  # type: ignore[no-any-return]

    @field_validator("keys", mode="before")
    @classmethod
    def _plain_keys_are_default_admins(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"key": item} if isinstance(item, str) else item for item in value]
        return value


class OidcVerifierConfig(Section):
    """The platform's OpenID provider, where the browser user signs in to prove who they are.

    ``user_claim`` of the validated ID token must equal the flow's user id; the client is
    registered there with the redirect URI ``<api.public_url>/oauth/verify/callback``.
    """

    issuer: HttpUrlText
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    user_claim: str = Field(default="sub", min_length=1)
    scopes: list[str] = Field(default_factory=lambda: ["openid"])

    @model_validator(mode="after")
    def _asks_for_openid(self) -> OidcVerifierConfig:
        if "openid" not in self.scopes:
            raise ValueError("scopes must include openid (no ID token otherwise)")
        return self


class VerificationConfig(Section):
    """How the user who finished a consent is matched to the one who started it.

    See docs/arcade-compatibility.md §2.4.
    """

    mode: Literal["builtin", "custom", "oidc", "unsafe_skip"] = "builtin"
    verifier_url: HttpUrlText | None = None
    oidc: OidcVerifierConfig | None = None

    @model_validator(mode="after")
    def _each_mode_has_its_settings(self) -> VerificationConfig:
        if self.mode == "custom" and not self.verifier_url:
            raise ValueError("verifier_url is required when mode is custom")
        if self.mode == "oidc" and self.oidc is None:
            raise ValueError("oidc (issuer, client_id, client_secret) is required when mode is oidc")
        return self


class AuthConfig(Section):
    providers: list[ProviderEntry] = Field(default_factory=list)
    state_ttl_seconds: int = Field(default=600, ge=30, le=86_400)
    verification: VerificationConfig = Field(default_factory=VerificationConfig)
    # Origins (scheme://host[:port]) an authorization's next_uri may point at, beside the
    # engine's own public URL; development mode allows any.
    next_uri_origins: list[HttpUrlText] = Field(default_factory=list)
    token_store: Any = None  # Arcade's older token store: refused when set (config_arcade.py)


class RootKeyConfig(Section):
    id: str = Field(min_length=1)
    value: SecretStr
    default: bool = False


class SecurityConfig(Section):
    root_keys: list[RootKeyConfig] = Field(default_factory=list)
    # Seals every request and reply on NATS (shared/bus/sealing.py); every service holds it.
    bus_key: SecretStr | None = None
    # Seal webhook endpoints' signing secrets; held by the webhooks service alone (no root key).
    webhook_keys: list[RootKeyConfig] = Field(default_factory=list)
    # Let provider endpoints and workers resolve to loopback, private or link-local addresses
    # (shared/runtime/addresses.py); for a provider or worker inside your own network.
    allow_private_targets: bool = False


class RefreshConfig(Section):
    margin_seconds: float = Field(default=300, ge=0)
    lifetime_fraction: float = Field(default=0.25, gt=0, lt=1)
    max_attempts: int = Field(default=8, ge=1)


class WebhookEndpointConfig(Section):
    id: str = Field(min_length=1)
    url: HttpUrlText
    secret: SecretStr | None = None
    events: list[str] = Field(default_factory=lambda: ["*"])
    enabled: bool = True


class WebhooksConfig(Section):
    """Outbound webhooks (the webhooks service delivers them; see docs/webhooks.md)."""

    endpoints: list[WebhookEndpointConfig] = Field(default_factory=list)
    allow_private_targets: bool = False
    timeout_seconds: float = Field(default=10, gt=0)
    retry_window_seconds: float = Field(default=3600, gt=0)
    # First retry after ~backoff_base_seconds, doubling up to backoff_max_seconds (with jitter).
    backoff_base_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=300, gt=0)
    # Concurrent requests per endpoint and webhooks replica: a slow receiver only uses its own slots.
    max_in_flight_per_endpoint: int = Field(default=16, ge=1, le=256)
    # After a secret rotation, deliveries are signed with the old secret too for this long.
    secret_rotation_grace_seconds: float = Field(default=86_400, ge=0)


#: A gateway's slug: its path segment in ``/mcp/{slug}``.
MCP_SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
#: ``Toolkit.*``, ``Toolkit.Tool`` or ``*``; ``fnmatch`` wildcards in either part.
MCP_TOOL_PATTERN = r"^[^.\s]+(\.[^.\s]+)?$"


class McpGatewayConfig(Section):
    """One MCP gateway (docs/mcp.md): served at ``/mcp/{slug}``, exposing the tools its patterns match."""

    slug: str = Field(pattern=MCP_SLUG_PATTERN)
    # Informative only (Arcade's gateway ``name``); unset, the slug names it.
    name: str | None = Field(default=None, min_length=1, max_length=256)
    description: str = Field(default="", max_length=2000)
    instructions: str = Field(default="", max_length=20_000)
    tools: list[Annotated[str, Field(pattern=MCP_TOOL_PATTERN)]] = Field(min_length=1, max_length=500)
    auth: Literal["headers", "oauth"] = "headers"
    # Whose keys see and call it, and whose users and tokens its tools run with.
    project: str = Field(default=DEFAULT_PROJECT, pattern=PROJECT_ID_PATTERN)


class McpConfig(Section):
    gateways: list[McpGatewayConfig] = Field(default_factory=list)
    # ``auth: oauth`` gateways accept tokens whose ``aud`` is this instead of the gateway's URL.
    audience: str | None = None

    @model_validator(mode="after")
    def _slugs_are_unique(self) -> McpConfig:
        slugs = [g.slug for g in self.gateways]
        if dupes := sorted({s for s in slugs if slugs.count(s) > 1}):
            raise ValueError(f"mcp.gateways: slug {dupes[0]} is used twice")
        return self


class EngineConfig(Section):
    schema_: str | None = Field(default=None, alias="$schema")
    api: ApiConfig = Field(default_factory=ApiConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    refresh: RefreshConfig = Field(default_factory=RefreshConfig)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
    mcp: McpConfig = Field(default_factory=McpConfig)
    execution_logging: ExecutionLoggingConfig = Field(default_factory=ExecutionLoggingConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    # Arcade's sections (shared/runtime/config_arcade.py): read, or refused when set.
    llm: LlmConfig | None = None
    storage: Any = None
    cache: Any = None
    telemetry: TelemetryConfig | None = None

    @model_validator(mode="after")
    def _no_section_is_ignored(self) -> EngineConfig:
        refuse_unsupported(self.storage, self.cache, self.auth.token_store)
        return self

    @model_validator(mode="after")
    def _builtin_verifier_only_in_development(self) -> EngineConfig:
        """The built-in verifier lets whoever holds the browser claim any user: development only."""
        if self.auth.verification.mode == "builtin" and not self.api.development:
            raise ValueError(
                "auth.verification.mode: builtin is for development only (api.development: true); "
                "use oidc, custom or unsafe_skip"
            )
        return self

    @model_validator(mode="after")
    def _oauth_gateways_have_an_issuer(self) -> EngineConfig:
        """``auth: oauth`` takes the tokens of the platform's OpenID provider: it must be configured."""
        for g, gateway in enumerate(self.mcp.gateways):
            if gateway.auth == "oauth" and self.auth.verification.oidc is None:
                raise ValueError(
                    f"mcp.gateways[{g}].auth: oauth needs auth.verification.oidc (the platform's OpenID "
                    "provider)"
                )
        return self

    @model_validator(mode="after")
    def _workers_are_guarded(self) -> EngineConfig:
        """Outside development, a worker's secret (it signs every call, tokens included) is at
        least 32 characters, and plain http:// needs security.allow_private_targets."""
        if self.api.development:
            return self
        for d, director in enumerate(self.tools.directors):
            for w, worker in enumerate(director.workers):
                allow_http = self.security.allow_private_targets
                if worker.mcp is not None and worker.mcp.uri.startswith("http://") and not allow_http:
                    raise ValueError(
                        f"tools.directors[{d}].workers[{w}].mcp.uri: plain http:// needs "
                        "security.allow_private_targets (or api.development)"
                    )
                problem = worker.http and worker_problem(worker.http, allow_http=allow_http)
                if problem:
                    raise ValueError(f"tools.directors[{d}].workers[{w}].http.{problem}")
        return self
