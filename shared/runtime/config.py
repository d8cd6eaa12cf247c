"""``engine.yaml``: Arcade's engine configuration format, plus valetkey's own sections.

Loading reads the YAML, substitutes ``${env:VAR}`` and ``${file:/path}`` (values
from the process environment, then a ``.env`` beside the config or in the working
directory), and validates the result. Any problem raises :class:`ConfigError`
naming the file, the key and what is wrong, so a bad file stops the engine at start.
Unset variables inside a *disabled* provider are tolerated, as Arcade's shipped
template declares disabled providers whose credentials are not set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from dotenv import dotenv_values
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.contracts.common import DEFAULT_PROJECT
from shared.errors import ConfigError
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

_REF = re.compile(r"\$\{(env|file):([^}]+)\}")


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


def _environment(config_path: Path, env: Mapping[str, str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for candidate in (Path.cwd() / ".env", config_path.parent / ".env"):
        if candidate.is_file():
            merged.update({k: v for k, v in dotenv_values(candidate).items() if v is not None})
    merged.update(env)
    return merged


#: Secrets a service never reads, by key path: an unset ``${env:...}`` under one of them reads as
#: empty for that service, so a deployment may give each secret only to the services that use
#: it (deploy/README.md). The gateway holds no key at all but the bus key; only the authorizer
#: signs users in; only the webhooks service holds the webhook keys, and it holds no root key.
_OIDC_SECRET = "auth.verification.oidc.client_secret"
UNUSED_SECRETS: dict[str, tuple[str, ...]] = {
    "gateway": ("security.root_keys", "security.webhook_keys", "auth.providers", _OIDC_SECRET),
    "authorizer": ("security.webhook_keys",),
    "token_refresher": ("security.webhook_keys", _OIDC_SECRET),
    "executor": ("security.webhook_keys", "auth.providers", _OIDC_SECRET),
    "webhooks": ("security.root_keys", "auth.providers", _OIDC_SECRET),
}


class _Substituter:
    def __init__(self, file: str, env: Mapping[str, str], unused: tuple[str, ...] = ()) -> None:
        self.file = file
        self.env = env
        self.unused = unused

    def _unused(self, path: str) -> bool:
        return any(path == u or path.startswith((f"{u}.", f"{u}[")) for u in self.unused)

    def walk(self, value: Any, path: str, lenient: bool) -> Any:
        lenient = lenient or self._unused(path)
        if isinstance(value, dict):
            if path.startswith("auth.providers[") and value.get("enabled") is False:
                lenient = True
            return {k: self.walk(v, f"{path}.{k}" if path else str(k), lenient) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v, f"{path}[{i}]", lenient) for i, v in enumerate(value)]
        if isinstance(value, str):
            return self.string(value, path, lenient)
        return value

    def string(self, text: str, path: str, lenient: bool) -> str:
        def replace(match: re.Match[str]) -> str:
            kind, name = match.group(1), match.group(2).strip()
            if kind == "file":
                try:
                    return Path(name).read_text().strip()
                except OSError as exc:
                    raise ConfigError(
                        f"cannot read {name}: {exc.strerror}", file=self.file, key=path
                    ) from exc
            if name in self.env:
                return self.env[name]
            if lenient:
                return ""
            raise ConfigError(f"environment variable {name} is not set", file=self.file, key=path)

        return _REF.sub(replace, text)


#: A whole-file check names the key it is about at the start of its message.
_KEYED_MESSAGE = re.compile(r"^([\w$]+(?:\.[\w$]+|\[\d+\])+): (.+)$", re.DOTALL)


def _describe(error: ValidationError) -> tuple[str, str]:
    first = error.errors()[0]
    key = ""
    for part in first["loc"]:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    message = first["msg"].removeprefix("Value error, ")
    if not key and (keyed := _KEYED_MESSAGE.match(message)):
        return keyed.group(1), keyed.group(2)
    return key, message


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's message on one line: what is wrong and where."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def load_engine_config(
    path: Path, env: Mapping[str, str] | None = None, *, service: str | None = None
) -> EngineConfig:
    """Read, substitute and validate an engine configuration file.

    Args:
        path: The YAML file.
        env: Environment to substitute from (default: ``os.environ``).
        service: The service reading it: variables only under its ``UNUSED_SECRETS`` may be
            unset. None (the launcher, which checks for every service): all must be set.

    Raises:
        ConfigError: Naming the file, the key and the problem.
    """
    file = str(path)
    try:
        text = path.read_text()
        raw = yaml.safe_load(text)
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration: {exc.strerror}", file=file) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {_yaml_problem(exc)}", file=file) from exc
    if not text.strip():
        raise ConfigError("the file is empty", file=file)
    if not isinstance(raw, dict):
        raise ConfigError("the top level must be a mapping", file=file)
    environment = _environment(path, os.environ if env is None else env)
    unused = UNUSED_SECRETS.get(service or "", ())
    values = _Substituter(file, environment, unused).walk(raw, "", False)
    try:
        return EngineConfig.model_validate(values)
    except ValidationError as exc:
        key, message = _describe(exc)
        raise ConfigError(message, file=file, key=key) from exc
