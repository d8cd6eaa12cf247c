"""The request bodies of ``/v1/plugins`` and ``/v1/hooks``: Arcade's shapes (docs/contextual-access.md,
docs/arcade-compatibility.md §4.6), closed, with valetkey's own fields described as such.

The gateway validates a body with these models and documents them in its OpenAPI document under
their class names; the executor validates again what reaches it (an item of a bulk upsert is a create
or a patch depending on the store) and keeps the validated dump. ``null`` is read as absent.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

HookPoint = Literal["tool.access", "tool.pre", "tool.post"]
Status = Literal["active", "inactive"]
FailureMode = Literal["fail_closed", "fail_open"]
Phase = Literal["before", "after"]

OURS = "valetkey's, not Arcade's: "
#: Arcade's maximum hook timeout is 30 s; an endpoint's (and here a hook's) is 2 minutes.
TIMEOUT_MS = Field(default=None, ge=100, le=120_000, description="100 ms to 2 minutes")
CACHE_TTL_MS = Field(default=None, ge=1000, le=604_800_000, description="1 s to 1 week")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatchWebhookEndpointRequest(Body):
    """An endpoint of a plugin, and the hook settings a plugin's create gives its inline hook."""

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    timeout_ms: int | None = TIMEOUT_MS
    cache_enabled: bool | None = None
    cache_ttl_ms: int | None = CACHE_TTL_MS
    failure_mode: FailureMode | None = None
    phase: Phase | None = None
    priority: int | None = Field(default=None, ge=0, le=1000)
    status: Status | None = None


class WebhookEndpointRequest(PatchWebhookEndpointRequest):
    url: str = Field(min_length=1, max_length=2048)
    failure_mode: FailureMode
    phase: Phase


class WebhookAuthRequest(Body):
    """``none``; ``bearer`` (``Authorization: Bearer <token>``); ``header`` (``<header_name>: <token>``,
    a shared secret, valetkey's). Arcade's ``mtls`` is refused (docs/contextual-access.md)."""

    type: Literal["none", "bearer", "header", "mtls"] = "none"
    token: str | None = Field(default=None, min_length=1, max_length=4096)
    header_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9-]+$",
        description=OURS + "the header that carries the token when type is header",
    )
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None


class PatchWebhookEndpointsRequest(Body):
    access: PatchWebhookEndpointRequest | None = None
    pre: PatchWebhookEndpointRequest | None = None
    post: PatchWebhookEndpointRequest | None = None


class CreateWebhookEndpointsRequest(Body):
    access: WebhookEndpointRequest | None = None
    pre: WebhookEndpointRequest | None = None
    post: WebhookEndpointRequest | None = None


class PatchWebhookConfigRequest(Body):
    auth: WebhookAuthRequest | None = None
    endpoints: PatchWebhookEndpointsRequest | None = None
    health_check_path: str | None = Field(default=None, max_length=512)


class CreateWebhookConfigRequest(Body):
    auth: WebhookAuthRequest | None = None
    endpoints: CreateWebhookEndpointsRequest
    health_check_path: str | None = Field(default=None, max_length=512)


class RetryConfigRequest(Body):
    """Arcade's ``CreateRetryConfigRequest`` and ``PatchRetryConfigRequest`` (the same fields)."""

    backoff: Literal["fixed", "exponential"] | None = None
    base_delay_ms: int | None = Field(default=None, ge=10, le=10_000)
    enabled: bool | None = None
    max_attempts: int | None = Field(default=None, ge=1, le=10)
    retry_on: list[str] | None = Field(default=None, max_length=20)


class PatchPluginRequest(Body):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    description: str | None = Field(default=None, max_length=1000)
    retry: RetryConfigRequest | None = None
    status: Status | None = None
    webhook_config: PatchWebhookConfigRequest | None = None


class CreatePluginRequest(PatchPluginRequest):
    name: str = Field(min_length=1, max_length=256)
    plugin_type: Literal["webhook"]
    webhook_config: CreateWebhookConfigRequest  # type: ignore[assignment]


class PatchHookRequest(Body):
    """Arcade's ``PatchHookRequest``; ``name`` and the cache settings are valetkey's."""

    name: str | None = Field(default=None, min_length=1, max_length=256, description=OURS + "the hook's name")
    phase: Phase | None = None
    priority: int | None = Field(default=None, ge=0, le=1000)
    status: Status | None = None
    failure_mode: FailureMode | None = None
    timeout_ms: int | None = TIMEOUT_MS
    cache_enabled: bool | None = Field(default=None, description=OURS + "cache the hook's answers")
    cache_ttl_ms: int | None = Field(
        default=None, ge=1000, le=604_800_000, description=OURS + "how long a cached answer lasts"
    )


class CreateHookRequest(PatchHookRequest):
    """Arcade's ``CreateHookRequest``; ``name``, ``phase`` and ``failure_mode`` default to the hook
    point and plugin, ``before`` and ``fail_closed`` (Arcade requires them)."""

    plugin_id: str = Field(min_length=1, max_length=128)
    hook_point: HookPoint


class BulkHookConfig(PatchHookRequest):
    """Arcade's ``BulkHookConfig``: changes the plugin's hook at the point, or creates one (``name``,
    ``timeout_ms`` and the cache settings are valetkey's)."""

    plugin_id: str = Field(min_length=1, max_length=128)
    hook_point: HookPoint


class BulkHookItem(PatchHookRequest):
    """valetkey's bulk item: with the ``id`` of an existing hook, a patch of it; else a new hook (then
    ``plugin_id`` and ``hook_point`` are required)."""

    id: str | None = Field(default=None, min_length=1, max_length=128)
    plugin_id: str | None = Field(default=None, min_length=1, max_length=128)
    hook_point: HookPoint | None = None


class BulkUpsertHooksRequest(Body):
    """Arcade's ``{"configs": [...]}``, or valetkey's ``{"hooks": [...]}``: one of the two."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"oneOf": [{"required": ["configs"]}, {"required": ["hooks"]}]}
    )

    configs: list[BulkHookConfig] | None = Field(default=None, max_length=100)
    hooks: list[BulkHookItem] | None = Field(
        default=None, max_length=100, description=OURS + "hooks matched by id, in place of configs"
    )

    @model_validator(mode="after")
    def _one_list(self) -> Self:
        if (self.configs is None) == (self.hooks is None):
            raise ValueError("give configs (Arcade's) or hooks (valetkey's), one of the two")
        return self


#: Every request model of the Contextual Access routes, as the OpenAPI document names them.
REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    PatchWebhookEndpointRequest,
    WebhookEndpointRequest,
    WebhookAuthRequest,
    PatchWebhookEndpointsRequest,
    CreateWebhookEndpointsRequest,
    PatchWebhookConfigRequest,
    CreateWebhookConfigRequest,
    RetryConfigRequest,
    PatchPluginRequest,
    CreatePluginRequest,
    PatchHookRequest,
    CreateHookRequest,
    BulkHookConfig,
    BulkHookItem,
    BulkUpsertHooksRequest,
)
