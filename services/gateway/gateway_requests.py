"""Arcade's request bodies of the project-scoped gateway paths (routes/project_gateways.py), closed:
``CreateGatewayRequest``, ``UpdateGatewayRequest`` (PUT) and ``PatchGatewayRequest``, field by field.

The routes validate a body with these (an unknown or mistyped field is a 400 naming it) and map the
dump to the store (gateway_shapes.py), which refuses the settings it cannot keep. Arcade requires
``name`` on a create and ``id`` and ``name`` on a full update; valetkey derives them (a slug from the
name, the name from the path's gateway), so the schemas here do not (docs/arcade-compatibility.md §4.5).
``null`` is read as absent.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AuthType = Literal["arcade", "arcade_header", "user_source"]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GatewayDiscoveryRequest(_Closed):
    """Arcade's ``CreateDiscoveryRequest`` / ``UpdateDiscoveryRequest`` / ``PatchDiscoveryRequest``."""

    allowed_classes: list[str] | None = Field(default=None, max_length=10)
    enabled: bool | None = None
    pinned_asset_keys: list[str] | None = Field(default=None, max_length=500)


class GatewayToolFilterRequest(_Closed):
    """Arcade's ``CreateToolFilterRequest`` (and its update and patch twins)."""

    allowed_tools: list[str] | None = Field(
        default=None, max_length=500, description="Qualified tool names (Provider.ToolName; * wildcards)"
    )
    discovery: GatewayDiscoveryRequest | None = None


class PatchGatewayRequest(_Closed):
    """Arcade's ``PatchGatewayRequest``: the fields given change."""

    allowed_passthrough_headers: list[str] | None = Field(default=None, max_length=100)
    auth_type: AuthType | None = None
    consent_skip_client_ids: list[str] | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=1000)
    instructions: str | None = Field(default=None, max_length=5000)
    name: str | None = Field(default=None, min_length=1, max_length=256)
    slug: str | None = Field(default=None, max_length=256)
    status: str | None = None
    tool_filter: GatewayToolFilterRequest | None = None
    user_source_id: str | None = None


class CreateGatewayRequest(PatchGatewayRequest):
    """Arcade's ``CreateGatewayRequest``."""

    name: str | None = Field(default=None, max_length=256)


class UpdateGatewayRequest(CreateGatewayRequest):
    """Arcade's ``UpdateGatewayRequest`` (PUT): every field, those left out back at their defaults."""

    id: str | None = None


class SlugInfoRequest(_Closed):
    """Arcade's ``SlugInfoRequest`` (``POST …/gateways/slug``)."""

    slug: str = Field(min_length=1, max_length=256)


#: Every request model of the gateway paths, as the OpenAPI document names them.
REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    GatewayDiscoveryRequest,
    GatewayToolFilterRequest,
    PatchGatewayRequest,
    CreateGatewayRequest,
    UpdateGatewayRequest,
)
