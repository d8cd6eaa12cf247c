"""Contextual Access API (docs/contextual-access.md): ``/v1/plugins`` and ``/v1/hooks``, kept by the
executor, which calls the hooks around every execution. Admin keys only; a project's plugins and
hooks are invisible to another project's keys (404). The bodies are Arcade's closed request shapes
(shared/contracts/hook_bodies.py): an unknown or mistyped field is a 400 naming it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response
from pydantic import BaseModel

from services.gateway.arcade_schemas import conform
from services.gateway.domain import clamp_page, offset_page
from services.gateway.routes.deps import Extras, Project, require_admin
from services.gateway.routes.tools import Rpc, build
from shared.bus import subjects
from shared.contracts.common import Page
from shared.contracts.execution import Document
from shared.contracts.hook_bodies import (
    BulkUpsertHooksRequest,
    CreateHookRequest,
    CreatePluginRequest,
    PatchHookRequest,
    PatchPluginRequest,
)
from shared.contracts.hooks import HookBulk, HookQuery, HookRef, HookWrite, PluginRef, PluginWrite

plugins = APIRouter(prefix="/v1/plugins", tags=["contextual access"], dependencies=[Depends(require_admin)])
hooks = APIRouter(prefix="/v1/hooks", tags=["contextual access"], dependencies=[Depends(require_admin)])


def _given(body: BaseModel) -> dict[str, Any]:
    """The fields the client sent (the executor validates them again against its store)."""
    return body.model_dump(exclude_unset=True)


@plugins.get("")
async def list_plugins(
    client: Rpc,
    project: Project,
    limit: int | None = None,
    offset: int | None = None,
    binding_type: str | None = None,
    extras: Extras = False,
) -> dict[str, Any]:
    """One page of the project's plugins, oldest first (``binding_type`` other than ``project``: none)."""
    off, lim = clamp_page(offset, limit)
    if binding_type not in (None, "project"):
        return offset_page([], 0, off, lim)
    query = HookQuery(offset=off, limit=lim, project=project)
    page = await client.call(subjects.PLUGINS_LIST, query, Page)
    return conform(offset_page(page.items, page.total_count, off, lim), "PluginPage", extras=extras)


@plugins.post("", status_code=201)
async def create_plugin(
    client: Rpc, project: Project, body: Annotated[CreatePluginRequest, Body()], extras: Extras = False
) -> dict[str, Any]:
    """A webhook plugin; each endpoint given also makes a hook at its point (answered in ``hooks``)."""
    write = PluginWrite(body=_given(body), project=project)
    created = await client.call(subjects.PLUGINS_CREATE, write, Document)
    return conform(created.body, "CreatePluginResponse", extras=extras)


@plugins.get("/{plugin_id}")
async def get_plugin(client: Rpc, project: Project, plugin_id: str, extras: Extras = False) -> dict[str, Any]:
    ref = build(PluginRef, id=plugin_id, project=project)
    return conform(
        (await client.call(subjects.PLUGINS_GET, ref, Document)).body, "PluginResponse", extras=extras
    )


@plugins.patch("/{plugin_id}")
async def update_plugin(
    client: Rpc,
    project: Project,
    plugin_id: str,
    body: Annotated[PatchPluginRequest, Body()],
    extras: Extras = False,
) -> dict[str, Any]:
    write = build(PluginWrite, id=plugin_id, body=_given(body), project=project)
    updated = await client.call(subjects.PLUGINS_UPDATE, write, Document)
    return conform(updated.body, "PluginResponse", extras=extras)


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
    return conform(offset_page(page.items, page.total_count, off, lim), "HookPage")


@hooks.post("", status_code=201)
async def create_hook(
    client: Rpc, project: Project, body: Annotated[CreateHookRequest, Body()]
) -> dict[str, Any]:
    """Attach a plugin's endpoint to ``tool.access``, ``tool.pre`` or ``tool.post``."""
    write = HookWrite(body=_given(body), project=project)
    created = await client.call(subjects.HOOKS_CREATE, write, Document)
    return conform(created.body, "HookResponse")


@hooks.patch("/bulk")
async def bulk_upsert_hooks(
    client: Rpc, project: Project, body: Annotated[BulkUpsertHooksRequest, Body()]
) -> dict[str, Any]:
    """Arcade's ``{"configs": [...]}``: each item changes its plugin's hook at its ``hook_point``, or
    creates one; valetkey's ``{"hooks": [...]}``: an item with an existing ``id`` changes that hook, any
    other is created. Every item is checked before any is written, so ``failed`` is 0: a bad item is a
    400 for all. The answer is Arcade's ``BulkUpsertHooksResponse``."""
    by_point = body.configs is not None
    items = [_given(item) for item in (body.configs if body.configs is not None else body.hooks or [])]
    bulk = build(HookBulk, items=items, by_point=by_point, project=project)
    page = await client.call(subjects.HOOKS_BULK, bulk, Page)
    return conform(
        {"success": len(page.items), "failed": 0, "results": page.items}, "BulkUpsertHooksResponse"
    )


@hooks.get("/{hook_id}")
async def get_hook(client: Rpc, project: Project, hook_id: str) -> dict[str, Any]:
    found = await client.call(subjects.HOOKS_GET, build(HookRef, id=hook_id, project=project), Document)
    return conform(found.body, "HookResponse")


@hooks.patch("/{hook_id}")
async def update_hook(
    client: Rpc, project: Project, hook_id: str, body: Annotated[PatchHookRequest, Body()]
) -> dict[str, Any]:
    write = build(HookWrite, id=hook_id, body=_given(body), project=project)
    return conform((await client.call(subjects.HOOKS_UPDATE, write, Document)).body, "HookResponse")


@hooks.delete("/{hook_id}", status_code=204)
async def delete_hook(client: Rpc, project: Project, hook_id: str) -> Response:
    await client.call_raw(subjects.HOOKS_DELETE, build(HookRef, id=hook_id, project=project))
    return Response(status_code=204)
