"""``/v1/plugins`` and ``/v1/hooks``: Contextual Access administration (docs/contextual-access.md).

Every write ends with ``changed(project)``, which drops this replica's copy of the project's hook
chains and tells the other replicas to drop theirs, so the next execution calls what was written.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from services.executor.hook_bodies import (
    HookCreate,
    HookPatch,
    PluginCreate,
    PluginPatch,
    parsed,
    set_fields,
)
from services.executor.hook_domain import ENDPOINT_OF, HOOK_POINTS
from services.executor.hook_store import HookStore
from shared.contracts.common import Page, utcnow
from shared.contracts.execution import Document
from shared.contracts.hooks import HookBulk, HookQuery, HookRef, HookWrite, PluginRef, PluginWrite
from shared.errors import BadRequest, NotFound, TargetRefused
from shared.runtime.addresses import refused_literal

ENDPOINT_FIELDS = ("url", "timeout_ms", "cache_enabled", "cache_ttl_ms")
HOOK_FIELDS = ("failure_mode", "phase", "priority", "status")


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def plugin_view(record: dict[str, Any], project: str) -> dict[str, Any]:
    """Arcade's ``PluginResponse``: the token never, only whether one is set."""
    config = dict(record.get("webhook_config") or {})
    auth = dict(config.get("auth") or {"type": "none"})
    auth.pop("client_key", None)
    if auth.get("type") in ("bearer", "header"):
        auth["token"] = {"binding": "project", "editable": True, "exists": bool(record.get("sealed_token"))}
    config["auth"] = auth
    view = {k: v for k, v in record.items() if k != "sealed_token"}
    return _without_none({**view, "webhook_config": config, "binding": {"type": "project", "id": project}})


class ContextualAccessAdmin:
    """Plugins and hooks of a project.

    Args:
        store: The records.
        changed: Called with the project after each write (cache drop and broadcast).
        allow_private_targets: Accept plain http:// and private literal addresses.
    """

    def __init__(
        self,
        store: HookStore,
        changed: Callable[[str], Awaitable[None]],
        *,
        allow_private_targets: bool = False,
    ) -> None:
        self._store = store
        self._changed = changed
        self._allow_private = allow_private_targets

    # --- plugins -----------------------------------------------------------------------

    async def list_plugins(self, query: HookQuery) -> Page:
        plugins = sorted((await self._store.plugins(query.project)).values(), key=lambda p: p["created_at"])
        views = [plugin_view(p, query.project) for p in plugins]
        return Page(items=views[query.offset : query.offset + query.limit], total_count=len(views))

    async def get_plugin(self, ref: PluginRef) -> Document:
        return Document(body=plugin_view(await self._plugin(ref.project, ref.id), ref.project))

    async def create_plugin(self, write: PluginWrite) -> Document:
        """A new plugin, and one inline hook per endpoint given (Arcade's ``CreatePluginResponse``).

        Raises:
            BadRequest: Invalid body. TargetRefused: An endpoint the address policy refuses.
        """
        body: PluginCreate = parsed(PluginCreate, write.body)
        now, plugin_id = utcnow().isoformat(), str(uuid.uuid4())
        config = set_fields(body.webhook_config)
        self._check_config(config)
        record = {
            **set_fields(body),
            "id": plugin_id,
            "status": body.status or "active",
            "webhook_config": self._stored_config(config, {}),
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        record["webhook_config"], record["sealed_token"] = self._sealed(plugin_id, record["webhook_config"])
        hooks = [
            self._hook_record(
                HookCreate(plugin_id=plugin_id, hook_point=point, **_pick(endpoint, HOOK_FIELDS)),
                name=f"{body.name} {ENDPOINT_OF[point]}",
            )
            for point in HOOK_POINTS
            if (endpoint := config["endpoints"].get(ENDPOINT_OF[point])) is not None
        ]
        await self._store.create_plugin(write.project, record)
        await self._store.put_hooks(write.project, hooks)
        await self._changed(write.project)
        return Document(body={**plugin_view(record, write.project), "hooks": hooks})

    async def update_plugin(self, write: PluginWrite) -> Document:
        """Change a plugin; hook settings under an endpoint change the plugin's hooks at that point."""
        current = await self._plugin(write.project, write.id or "")
        body: PluginPatch = parsed(PluginPatch, write.body)
        changes = set_fields(body)
        patch = changes.pop("webhook_config", {})
        self._check_config(patch)
        record = {**current, **changes, "updated_at": utcnow().isoformat(), "version": current["version"] + 1}
        config = self._stored_config(patch, current.get("webhook_config") or {})
        record["webhook_config"], sealed = self._sealed(current["id"], config)
        if sealed is not None or (config.get("auth") or {}).get("type") == "none":
            record["sealed_token"] = sealed
        await self._store.put_plugin(write.project, record)
        await self._patch_inline_hooks(write.project, current["id"], patch.get("endpoints") or {})
        await self._changed(write.project)
        return Document(body=plugin_view(record, write.project))

    async def delete_plugin(self, ref: PluginRef) -> None:
        """Remove a plugin and the hooks that call it."""
        await self._plugin(ref.project, ref.id)
        hooks = await self._store.hooks(ref.project)
        await self._store.delete_hooks(ref.project, [h for h, r in hooks.items() if r["plugin_id"] == ref.id])
        await self._store.delete_plugin(ref.project, ref.id)
        await self._changed(ref.project)

    async def _plugin(self, project: str, plugin_id: str) -> dict[str, Any]:
        record = await self._store.plugin(project, plugin_id)
        if record is None:
            raise NotFound(f"plugin {plugin_id} not found")
        return record

    def _check_config(self, config: dict[str, Any]) -> None:
        """Raises: BadRequest for mTLS or a token-less auth; TargetRefused for a refused URL."""
        auth = config.get("auth") or {}
        if auth.get("type") == "mtls":
            raise BadRequest("webhook_config.auth.type: mtls is not supported here; use bearer or header")
        if auth.get("type") in ("bearer", "header") and not auth.get("token"):
            raise BadRequest(f"webhook_config.auth.token: required for auth type {auth['type']}")
        for name, endpoint in (config.get("endpoints") or {}).items():
            if endpoint.get("url"):
                self._check_url(f"webhook_config.endpoints.{name}.url", endpoint["url"])

    def _check_url(self, where: str, url: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise BadRequest(f"{where}: an http:// or https:// URL")
        if self._allow_private:
            return
        if url.startswith("http://"):
            raise TargetRefused(f"{where}: plain http:// needs security.allow_private_targets")
        if (address := refused_literal(url)) is not None:
            raise TargetRefused(f"{where}: {address} is a loopback, private or link-local address")

    @staticmethod
    def _stored_config(patch: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
        """The endpoints' connection fields merged into the current ones (hook fields live on hooks)."""
        endpoints = dict(current.get("endpoints") or {})
        for name, endpoint in (patch.get("endpoints") or {}).items():
            endpoints[name] = {**endpoints.get(name, {}), **_pick(endpoint, ENDPOINT_FIELDS)}
        others = {k: v for k, v in patch.items() if k != "endpoints"}
        return {**current, **others, "endpoints": endpoints}

    def _sealed(self, plugin_id: str, config: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The config without the token in clear, and the token sealed (None when none was given)."""
        auth = dict(config.get("auth") or {"type": "none"})
        token = auth.pop("token", None)
        return {**config, "auth": auth}, None if token is None else self._store.seal(plugin_id, token)

    async def _patch_inline_hooks(self, project: str, plugin_id: str, endpoints: dict[str, Any]) -> None:
        hooks = await self._store.hooks(project)
        changed = []
        for point in HOOK_POINTS:
            settings = _pick(endpoints.get(ENDPOINT_OF[point]) or {}, HOOK_FIELDS)
            if settings:
                for hook in hooks.values():
                    if hook["plugin_id"] == plugin_id and hook["hook_point"] == point:
                        changed.append(_touched({**hook, **settings}))
        await self._store.put_hooks(project, changed)

    # --- hooks -------------------------------------------------------------------------

    async def list_hooks(self, query: HookQuery) -> Page:
        """One page of the project's hooks by point and call order, filtered as asked."""
        wanted = {"hook_point": query.hook_point, "plugin_id": query.plugin_id, "status": query.status}
        hooks = [
            h
            for h in (await self._store.hooks(query.project)).values()
            if all(v is None or h.get(k) == v for k, v in wanted.items())
        ]
        hooks.sort(key=lambda h: (h["hook_point"], h["phase"] == "after", h["priority"], h["id"]))
        return Page(items=hooks[query.offset : query.offset + query.limit], total_count=len(hooks))

    async def get_hook(self, ref: HookRef) -> Document:
        return Document(body=await self._hook(ref.project, ref.id))

    async def create_hook(self, write: HookWrite) -> Document:
        """A new hook calling one of the project's plugins at its endpoint for the hook point.

        Raises:
            BadRequest: Invalid body, or a plugin without that endpoint. NotFound: No such plugin.
        """
        body: HookCreate = parsed(HookCreate, write.body)
        await self._check_target(write.project, body)
        record = self._hook_record(body)
        await self._store.put_hooks(write.project, [record])
        await self._changed(write.project)
        return Document(body=record)

    async def update_hook(self, write: HookWrite) -> Document:
        current = await self._hook(write.project, write.id or "")
        record = _touched({**current, **set_fields(parsed(HookPatch, write.body))})
        await self._store.put_hooks(write.project, [record])
        await self._changed(write.project)
        return Document(body=record)

    async def delete_hook(self, ref: HookRef) -> None:
        if not await self._store.delete_hooks(ref.project, [ref.id]):
            raise NotFound(f"hook {ref.id} not found")
        await self._changed(ref.project)

    async def bulk_hooks(self, bulk: HookBulk) -> Page:
        """Create or change several hooks at once: all are checked before any is written.

        An item with the ``id`` of an existing hook changes it; with ``by_point``, an item naming the
        ``plugin_id`` and ``hook_point`` of an existing hook changes that one; any other item is a new
        hook. The page holds Arcade's ``BulkHookResult`` of each item, in order.
        """
        existing = await self._store.hooks(bulk.project)
        records, results = [], []
        for index, item in enumerate(bulk.items):
            where = f"{'configs' if bulk.by_point else 'hooks'}.{index}"
            hook_id = item.get("id") if not bulk.by_point else _at_point(existing, item)
            if hook_id is not None and not isinstance(hook_id, str):
                raise BadRequest(f"failed to validate request body: {where}.id: a string")
            fields = {k: v for k, v in item.items() if k != "id"}
            if hook_id in existing:
                if bulk.by_point:
                    fields = {k: v for k, v in fields.items() if k not in ("plugin_id", "hook_point")}
                patch = set_fields(parsed(HookPatch, fields, where=where))
                records.append(_touched({**existing[hook_id], **patch}))
            else:
                body: HookCreate = parsed(HookCreate, fields, where=where)
                await self._check_target(bulk.project, body)
                records.append(self._hook_record(body, hook_id=hook_id or None))
            results.append(_result(records[-1], "updated" if hook_id in existing else "created"))
        await self._store.put_hooks(bulk.project, records)
        await self._changed(bulk.project)
        return Page(items=results, total_count=len(results))

    async def _hook(self, project: str, hook_id: str) -> dict[str, Any]:
        record = await self._store.hook(project, hook_id)
        if record is None:
            raise NotFound(f"hook {hook_id} not found")
        return record

    async def _check_target(self, project: str, body: HookCreate) -> None:
        plugin = await self._store.plugin(project, body.plugin_id)
        if plugin is None:
            raise NotFound(f"plugin {body.plugin_id} not found")
        endpoint = ENDPOINT_OF[body.hook_point]
        if not ((plugin.get("webhook_config") or {}).get("endpoints") or {}).get(endpoint):
            raise BadRequest(
                f"plugin {body.plugin_id} has no {endpoint} endpoint for hook point {body.hook_point}"
            )

    @staticmethod
    def _hook_record(
        body: HookCreate, *, name: str | None = None, hook_id: str | None = None
    ) -> dict[str, Any]:
        now = utcnow().isoformat()
        fields = set_fields(body)
        if hook_id is not None and len(hook_id) > 128:
            raise BadRequest("id: a hook id is at most 128 characters")
        return {
            "id": hook_id or str(uuid.uuid4()),
            "name": fields.pop("name", None) or name or f"{body.hook_point} {body.plugin_id}",
            "phase": "before",
            "priority": 0,
            "status": "active",
            "failure_mode": "fail_closed",
            "cache_enabled": False,
            **fields,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }


def _at_point(existing: dict[str, dict[str, Any]], item: dict[str, Any]) -> str | None:
    """The id of the first hook (by id) of the item's plugin at the item's hook point, if any."""
    matches = sorted(
        hook_id
        for hook_id, record in existing.items()
        if (record.get("plugin_id"), record.get("hook_point"))
        == (item.get("plugin_id"), item.get("hook_point"))
    )
    return matches[0] if matches else None


def _result(record: dict[str, Any], action: str) -> dict[str, Any]:
    """Arcade's ``BulkHookResult`` of one written hook."""
    return {
        "action": action,
        "hook_id": record["id"],
        "hook_point": record["hook_point"],
        "plugin_id": record["plugin_id"],
    }


def _pick(values: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: values[k] for k in names if values.get(k) is not None}


def _touched(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "updated_at": utcnow().isoformat(), "version": int(record.get("version") or 0) + 1}
