"""``POST /v1/tools/requirements``: what a set of tools still needs for a user, answered by the executor.

See docs/arcade-compatibility.md §3.4.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from services.gateway.routes.body import documented, json_body
from services.gateway.routes.deps import Project, require_api_key, rpc_of
from services.gateway.routes.tools import build
from shared.bus import subjects
from shared.contracts.execution import CheckRequirements, Document
from shared.errors import BadRequest

router = APIRouter(tags=["tools"], dependencies=[Depends(require_api_key)])


class ToolRefBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tool_name: str
    tool_version: str | None = None


class ToolRequirementsRequest(BaseModel):
    """Arcade's ``ToolRequirementsRequest``."""

    model_config = ConfigDict(extra="ignore")

    user_id: str | None = None
    authorize: bool | None = None
    tool_names: list[str] | None = None
    tools: list[ToolRefBody] | None = None


@router.post(
    "/v1/tools/requirements",
    response_model=dict[str, Any],
    openapi_extra=documented(ToolRequirementsRequest),
)
async def tool_requirements(request: Request, project: Project) -> dict[str, Any]:
    """Authorizations (per provider) and secrets (per key) the tools need, and whether the user has them."""
    body = await json_body(request, ToolRequirementsRequest)
    if not body.user_id:
        raise BadRequest("user_id is required")
    command = build(CheckRequirements, **body.model_dump(), project=project)
    return (await rpc_of(request).call(subjects.TOOLS_REQUIREMENTS, command, Document)).body
