"""The request bodies of ``/v1/plugins`` and ``/v1/hooks`` (Arcade's shapes; docs/contextual-access.md).

Validated here so a bad body is a 400 naming its field; the store keeps the validated dump.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.executor.hook_domain import HookPoint
from shared.errors import BadRequest

Status = Literal["active", "inactive"]
FailureMode = Literal["fail_closed", "fail_open"]
Phase = Literal["before", "after"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointPatch(Body):
    """An endpoint of a plugin, and the hook settings a plugin's create gives its inline hook."""

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    timeout_ms: int | None = Field(default=None, ge=100, le=120_000)
    cache_enabled: bool | None = None
    cache_ttl_ms: int | None = Field(default=None, ge=1000, le=604_800_000)
    failure_mode: FailureMode | None = None
    phase: Phase | None = None
    priority: int | None = Field(default=None, ge=0, le=1000)
    status: Status | None = None


class Endpoint(EndpointPatch):
    url: str = Field(min_length=1, max_length=2048)
    failure_mode: FailureMode
    phase: Phase


class Auth(Body):
    """``none``; ``bearer`` (``Authorization: Bearer <token>``); ``header`` (``<header_name>: <token>``,
    a shared secret). Arcade's ``mtls`` is not served (docs/contextual-access.md)."""

    type: Literal["none", "bearer", "header", "mtls"] = "none"
    token: str | None = Field(default=None, min_length=1, max_length=4096)
    header_name: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9-]+$")
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None


class EndpointsPatch(Body):
    access: EndpointPatch | None = None
    pre: EndpointPatch | None = None
    post: EndpointPatch | None = None


class Endpoints(Body):
    access: Endpoint | None = None
    pre: Endpoint | None = None
    post: Endpoint | None = None


class WebhookConfigPatch(Body):
    auth: Auth | None = None
    endpoints: EndpointsPatch | None = None
    health_check_path: str | None = Field(default=None, max_length=512)


class WebhookConfig(Body):
    auth: Auth | None = None
    endpoints: Endpoints
    health_check_path: str | None = Field(default=None, max_length=512)


class Retry(Body):
    backoff: Literal["fixed", "exponential"] | None = None
    base_delay_ms: int | None = Field(default=None, ge=10, le=10_000)
    enabled: bool | None = None
    max_attempts: int | None = Field(default=None, ge=1, le=10)
    retry_on: list[str] | None = Field(default=None, max_length=20)


class PluginPatch(Body):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    description: str | None = Field(default=None, max_length=1000)
    retry: Retry | None = None
    status: Status | None = None
    webhook_config: WebhookConfigPatch | None = None


class PluginCreate(PluginPatch):
    name: str = Field(min_length=1, max_length=256)
    plugin_type: Literal["webhook"]
    webhook_config: WebhookConfig  # type: ignore[assignment]


class HookPatch(Body):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    phase: Phase | None = None
    priority: int | None = Field(default=None, ge=0, le=1000)
    status: Status | None = None
    failure_mode: FailureMode | None = None
    timeout_ms: int | None = Field(default=None, ge=100, le=120_000)
    cache_enabled: bool | None = None
    cache_ttl_ms: int | None = Field(default=None, ge=1000, le=604_800_000)


class HookCreate(HookPatch):
    plugin_id: str = Field(min_length=1, max_length=128)
    hook_point: HookPoint


def parsed(model: type[Body], body: Any, *, where: str = "") -> Any:
    """``body`` validated as ``model``.

    Raises:
        BadRequest: Naming the first field at fault.
    """
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in (where, *first["loc"]) if p != "") or "body"
        raise BadRequest(f"failed to validate request body: {path}: {first['msg']}") from exc


def set_fields(model: BaseModel) -> dict[str, Any]:
    """What the client sent (unset and null fields left out), for merging into a record."""
    return model.model_dump(exclude_none=True, exclude_unset=True)
