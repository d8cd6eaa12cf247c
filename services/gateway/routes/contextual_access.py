"""Contextual Access API (docs/contextual-access.md): ``/v1/plugins`` and ``/v1/hooks``, kept by the
executor, which calls the hooks around every execution. Admin keys only; a project's plugins and
hooks are invisible to another project's keys (404)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response

from services.gateway.domain import clamp_page, offset_page
from services.gateway.routes.deps import Project, require_admin
from services.gateway.routes.tools import Rpc, build
from shared.bus import subjects
from shared.contracts.common import Page
from shared.contracts.execution import Document
from shared.contracts.hooks import HookBulk, HookQuery, HookRef, HookWrite, PluginRef, PluginWrite
from shared.errors import BadRequest

plugins = APIRouter(prefix="/v1/plugins", tags=["contextual access"], dependencies=[Depends(require_admin)])
hooks = APIRouter(prefix="/v1/hooks", tags=["contextual access"], dependencies=[Depends(require_admin)])

JsonBody = Annotated[dict[str, Any], Body()]


@plugins.get("")
async def list_plugins(
    client: Rpc,
    project: Project,
    limit: int | None = None,
    offset: int | None = None,
    binding_type: str | None = None,
) -> dict[str, Any]:
    """One page of the project's plugins, oldest first (``binding_type`` other than ``project``: none)."""
    off, lim = clamp_page(offset, limit)
    if binding_type not in (None, "project"):
        return offset_page([], 0, off, lim)
    query = HookQuery(offset=off, limit=lim, project=project)
    page = await client.call(subjects.PLUGINS_LIST, query, Page)
    return offset_page(page.items, page.total_count, off, lim)


@plugins.post("", status_code=201)
async def create_plugin(client: Rpc, project: Project, body: JsonBody) -> dict[str, Any]:
    """A webhook plugin; each endpoint given also makes a hook at its point (answered in ``hooks``)."""
    return (
        await client.call(subjects.PLUGINS_CREATE, PluginWrite(body=body, project=project), Document)
    ).body


@plugins.get("/{plugin_id}")
async def get_plugin(client: Rpc, project: Project, plugin_id: str) -> dict[str, Any]:
    ref = build(PluginRef, id=plugin_id, project=project)
    return (await client.call(subjects.PLUGINS_GET, ref, Document)).body


@plugins.patch("/{plugin_id}")
async def update_plugin(client: Rpc, project: Project, plugin_id: str, body: JsonBody) -> dict[str, Any]:
    write = build(PluginWrite, id=plugin_id, body=body, project=project)
    return (await client.call(subjects.PLUGINS_UPDATE, write, Document)).body


@plugins.delete("/{plugin_id}", status_code=204)
async def delete_plugin(client: Rpc, project: Project, plugin_id: str) -> Response:
    """Remove a plugin and the hooks that call it."""
    await client.call_raw(subjects.PLUGINS_DELETE, build(PluginRef, id=plugin_id, project=project))
    return Response(status_code=204)


@hooks.get("")
async def list_hooks(
    client: Rpc,
    project: Project,
    limit: int | None = None,
    offset: int | None = None,
    hook_point: str | None = None,
    plugin_id: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """One page of the project's hooks by point and call order."""
    off, lim = clamp_page(offset, limit)
    query = build(
        HookQuery,
        offset=off,
        limit=lim,
        project=project,
        hook_point=hook_point,
        plugin_id=plugin_id,
        status=status,
    )
    page = await client.call(subjects.HOOKS_LIST, query, Page)
    return offset_page(page.items, page.total_count, off, lim)


@hooks.post("", status_code=201)
async def create_hook(client: Rpc, project: Project, body: JsonBody) -> dict[str, Any]:
    """Attach a plugin's endpoint to ``tool.access``, ``tool.pre`` or ``tool.post``."""
    return (await client.call(subjects.HOOKS_CREATE, HookWrite(body=body, project=project), Document)).body


@hooks.patch("/bulk")
async def bulk_upsert_hooks(client: Rpc, project: Project, body: JsonBody) -> dict[str, Any]:
    """``{"hooks": [...]}``: each item with an existing ``id`` changes that hook, any other is created;
    every item is checked before any is written."""
    items = body.get("hooks")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise BadRequest("failed to validate request body: hooks: a list of hook objects")
    page = await client.call(subjects.HOOKS_BULK, build(HookBulk, items=items, project=project), Page)
    return {"items": page.items}


@hooks.get("/{hook_id}")
async def get_hook(client: Rpc, project: Project, hook_id: str) -> dict[str, Any]:
    return (await client.call(subjects.HOOKS_GET, build(HookRef, id=hook_id, project=project), Document)).body


@hooks.patch("/{hook_id}")
async def update_hook(client: Rpc, project: Project, hook_id: str, body: JsonBody) -> dict[str, Any]:
    write = build(HookWrite, id=hook_id, body=body, project=project)
    return (await client.call(subjects.HOOKS_UPDATE, write, Document)).body


@hooks.delete("/{hook_id}", status_code=204)
async def delete_hook(client: Rpc, project: Project, hook_id: str) -> Response:
    await client.call_raw(subjects.HOOKS_DELETE, build(HookRef, id=hook_id, project=project))
    return Response(status_code=204)
