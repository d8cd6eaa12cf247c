"""MCP gateways API (docs/mcp.md, "The admin API"): kept by the executor, served at ``/mcp/{slug}``.

A gateway belongs to the project of the key that creates it; another project's keys get 404 for it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response

from services.gateway.domain import clamp_page, offset_page
from services.gateway.mcp.gateways import GatewayDirectory
from services.gateway.routes.deps import Project, require_admin
from services.gateway.routes.tools import Rpc, build
from shared.bus import subjects
from shared.contracts.common import Page, PageQuery
from shared.contracts.execution import Document
from shared.contracts.mcp import GatewayRef, GatewayWrite

PATH = "/v1/admin/mcp_gateways"

router = APIRouter(prefix=PATH, tags=["mcp"], dependencies=[Depends(require_admin)])


def _forget(request: Request, slug: str) -> None:
    """This replica serves the change at once; the others within ``GATEWAY_TTL_SECONDS``."""
    directory: GatewayDirectory = request.app.state.mcp_gateways
    directory.forget(slug)


@router.get("")
async def list_gateways(
    client: Rpc, project: Project, limit: int | None = None, offset: int | None = None
) -> dict[str, Any]:
    """One page of the project's gateways, engine.yaml's first (``source: engine.yaml``, not editable)."""
    off, lim = clamp_page(offset, limit)
    query = PageQuery(offset=off, limit=lim, project=project)
    page = await client.call(subjects.MCP_GATEWAYS_LIST, query, Page)
    return offset_page(page.items, page.total_count, off, lim)


@router.post("", status_code=201)
async def create_gateway(
    client: Rpc, project: Project, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """A new gateway of the key's project: ``{slug, description, instructions, tools, auth}``; a taken
    slug is 409."""
    write = GatewayWrite(body=body, project=project)
    return (await client.call(subjects.MCP_GATEWAYS_CREATE, write, Document)).body


@router.get("/{slug}")
async def get_gateway(client: Rpc, project: Project, slug: str) -> dict[str, Any]:
    """One gateway of the project."""
    ref = build(GatewayRef, slug=slug, project=project)
    return (await client.call(subjects.MCP_GATEWAYS_GET, ref, Document)).body


@router.patch("/{slug}")
async def update_gateway(
    request: Request, client: Rpc, project: Project, slug: str, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Change a gateway created through this API (engine.yaml's answer 409)."""
    write = GatewayWrite(slug=slug, body=body, project=project)
    answer = (await client.call(subjects.MCP_GATEWAYS_UPDATE, write, Document)).body
    _forget(request, slug)
    return answer


@router.delete("/{slug}", status_code=204)
async def delete_gateway(request: Request, client: Rpc, project: Project, slug: str) -> Response:
    """Remove a gateway created through this API."""
    await client.call_raw(subjects.MCP_GATEWAYS_DELETE, build(GatewayRef, slug=slug, project=project))
    _forget(request, slug)
    return Response(status_code=204)
