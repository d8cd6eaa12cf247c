"""Arcade's gateway administration paths, ``/v1/orgs/{org}/projects/{project}/gateways[...]``.

services/gateway/project_paths.py turns them into ``/v1/gateways[...]`` with the path's project;
each is the MCP gateways API (routes/mcp_gateways.py, docs/mcp.md) under Arcade's path, the
gateway's id being its slug, plus Arcade's slug check. The bodies are Arcade's (``GatewayResponse``
and its requests), mapped to the store by services/gateway/gateway_shapes.py
(docs/arcade-compatibility.md §4.5).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel

from services.gateway.arcade_schemas import conform
from services.gateway.gateway_requests import (
    CreateGatewayRequest,
    PatchGatewayRequest,
    SlugInfoRequest,
    UpdateGatewayRequest,
)
from services.gateway.gateway_shapes import arcade_gateway, create_body, patch_body, replace_body
from services.gateway.routes import mcp_gateways
from services.gateway.routes.body import documented, json_body
from services.gateway.routes.deps import Project, require_admin
from services.gateway.routes.tools import Rpc, build
from shared.bus import subjects
from shared.contracts.execution import Document
from shared.contracts.mcp import GatewayRef
from shared.errors import BadRequest, NotFound

CreateBody = Annotated[CreateGatewayRequest, Body()]
UpdateBody = Annotated[UpdateGatewayRequest, Body()]
PatchBody = Annotated[PatchGatewayRequest, Body()]

router = APIRouter(prefix="/v1/gateways", tags=["gateways"], dependencies=[Depends(require_admin)])


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
    """One page of the project's gateways, engine.yaml's first."""
    page = await mcp_gateways.list_gateways(client, project, limit, offset)
    return conform({**page, "items": [arcade_gateway(g) for g in page["items"]]}, "GatewayPage")


@router.post("", status_code=201)
async def create_gateway(client: Rpc, project: Project, body: CreateBody) -> dict[str, Any]:
    """A new gateway of the path's project (Arcade's ``CreateGatewayRequest``; a taken slug is 409)."""
    created = await mcp_gateways.create_gateway(client, project, create_body(_given(body)))
    return conform(arcade_gateway(created), "GatewayResponse")


@router.get("/{gateway_id}")
async def get_gateway(client: Rpc, project: Project, gateway_id: str) -> dict[str, Any]:
    """One gateway of the project, by its slug."""
    return conform(
        arcade_gateway(await mcp_gateways.get_gateway(client, project, gateway_id)), "GatewayResponse"
    )


@router.patch("/{gateway_id}")
async def patch_gateway(
    request: Request, client: Rpc, project: Project, gateway_id: str, body: PatchBody
) -> dict[str, Any]:
    """Change the fields the body names (engine.yaml's gateways answer 409)."""
    write = patch_body(_given(body))
    changed = await mcp_gateways.update_gateway(request, client, project, gateway_id, write)
    return conform(arcade_gateway(changed), "GatewayResponse")


@router.put("/{gateway_id}")
async def replace_gateway(
    request: Request, client: Rpc, project: Project, gateway_id: str, body: UpdateBody
) -> dict[str, Any]:
    """Arcade's full update: every field, those left out back at their defaults."""
    changed = await mcp_gateways.update_gateway(
        request, client, project, gateway_id, replace_body(_given(body), gateway_id)
    )
    return conform(arcade_gateway(changed), "GatewayResponse")


@router.delete("/{gateway_id}", status_code=204)
async def delete_gateway(request: Request, client: Rpc, project: Project, gateway_id: str) -> Response:
    """Remove a gateway created through the API."""
    return await mcp_gateways.delete_gateway(request, client, project, gateway_id)


def _given(body: BaseModel) -> dict[str, Any]:
    """The fields the client sent, as JSON values (what the store mapping reads)."""
    return body.model_dump(exclude_unset=True)
