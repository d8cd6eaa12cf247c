"""Arcade's gateway administration paths, ``/v1/orgs/{org}/projects/{project}/gateways[...]``.

services/gateway/project_paths.py turns them into ``/v1/gateways[...]`` with the path's project;
each is the MCP gateways API (routes/mcp_gateways.py, docs/mcp.md) under Arcade's path, the
gateway's id being its slug, plus Arcade's slug check. The bodies are valetkey's MCP gateway
records, not yet Arcade's ``GatewayResponse`` (docs/arcade-compatibility.md, "MCP gateways").
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.routes import mcp_gateways
from services.gateway.routes.body import documented, json_body
from services.gateway.routes.deps import Project, require_admin
from services.gateway.routes.tools import Rpc, build
from shared.bus import subjects
from shared.contracts.execution import Document
from shared.contracts.mcp import GatewayRef
from shared.errors import BadRequest, NotFound

router = APIRouter(prefix="/v1/gateways", tags=["gateways"], dependencies=[Depends(require_admin)])


class SlugInfoRequest(BaseModel):
    """Arcade's ``SlugInfoRequest``."""

    model_config = ConfigDict(extra="ignore")

    slug: str = Field(min_length=1, max_length=256)


@router.post("/slug", response_model=dict[str, Any], openapi_extra=documented(SlugInfoRequest))
async def slug_info(request: Request, client: Rpc, project: Project) -> dict[str, bool]:
    """``{available}``: no gateway of any project holds the slug (it is a URL, ``/mcp/{slug}``)."""
    body = await json_body(request, SlugInfoRequest)
    try:
        ref = build(GatewayRef, slug=body.slug, project=project, any_project=True)
    except BadRequest:  # longer than a slug may be here: no gateway can take it
        return {"available": False}
    try:
        await client.call(subjects.MCP_GATEWAYS_GET, ref, Document)
    except NotFound:
        return {"available": True}
    return {"available": False}


@router.get("")
async def list_gateways(
    client: Rpc, project: Project, limit: int | None = None, offset: int | None = None
) -> dict[str, Any]:
    """One page of the project's gateways."""
    return await mcp_gateways.list_gateways(client, project, limit, offset)


@router.post("", status_code=201)
async def create_gateway(
    client: Rpc, project: Project, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """A new gateway of the path's project."""
    return await mcp_gateways.create_gateway(client, project, body)


@router.get("/{gateway_id}")
async def get_gateway(client: Rpc, project: Project, gateway_id: str) -> dict[str, Any]:
    """One gateway of the project, by its slug."""
    return await mcp_gateways.get_gateway(client, project, gateway_id)


@router.patch("/{gateway_id}")
async def patch_gateway(
    request: Request, client: Rpc, project: Project, gateway_id: str, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Change a gateway created through the API (engine.yaml's answer 409)."""
    return await mcp_gateways.update_gateway(request, client, project, gateway_id, body)


@router.put("/{gateway_id}")
async def replace_gateway(
    request: Request, client: Rpc, project: Project, gateway_id: str, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Arcade's full update: here the same change as a patch with every field the body names."""
    return await mcp_gateways.update_gateway(request, client, project, gateway_id, body)


@router.delete("/{gateway_id}", status_code=204)
async def delete_gateway(request: Request, client: Rpc, project: Project, gateway_id: str) -> Response:
    """Remove a gateway created through the API."""
    return await mcp_gateways.delete_gateway(request, client, project, gateway_id)
