"""MCP gateways: gateway <-> executor (the admin API's, and the gateway's look-up by slug)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.contracts.common import InProject


class GatewayRef(InProject):
    """A gateway of the project; ``any_project`` (set by the gateway's ``/mcp/{slug}`` look-up, never
    from a client) finds it whichever project it belongs to, and the answer names that project."""

    slug: str = Field(min_length=1, max_length=128)
    any_project: bool = False


class GatewayWrite(InProject):
    """A create (``slug`` None: the body names it) or a patch of the project's gateway ``slug``."""

    slug: str | None = None
    body: dict[str, Any]
