"""MCP gateways: gateway <-> executor (the admin API's, and the gateway's look-up by slug)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.contracts.common import Contract


class GatewayRef(Contract):
    slug: str = Field(min_length=1, max_length=128)


class GatewayWrite(Contract):
    """A create (``slug`` None: the body names it) or a patch of the gateway ``slug``."""

    slug: str | None = None
    body: dict[str, Any]
