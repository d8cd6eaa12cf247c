"""The bulk upsert of hooks (services/executor/hook_admin.py) against the session's Valkey: Arcade's
``configs`` matched by plugin and hook point, valetkey's ``hooks`` by id, each answered as Arcade's
``BulkHookResult`` (docs/arcade-compatibility.md §4.6)."""

from __future__ import annotations

import secrets

import pytest

from services.executor.hook_admin import ContextualAccessAdmin
from services.executor.hook_store import HookStore
from shared.contracts.hooks import HookBulk, HookQuery, HookRef, PluginWrite
from shared.errors import BadRequest
from shared.runtime.crypto import Cipher, RootKey

pytestmark = pytest.mark.integration

CIPHER = Cipher([RootKey("k", "a-root-key-for-the-hook-bulk-tests", default=True)])


def plugin_body() -> dict:
    endpoint = {"failure_mode": "fail_closed", "phase": "before"}
    endpoints = {point: {**endpoint, "url": f"https://policy.example/{point}"} for point in ("access", "pre")}
    return {"name": "policy", "plugin_type": "webhook", "webhook_config": {"endpoints": endpoints}}


async def admin_with_plugin(redis) -> tuple[ContextualAccessAdmin, dict]:
    async def changed(project: str) -> None:
        return None

    store = HookStore(redis, CIPHER, prefix=f"vk-test-{secrets.token_hex(4)}")
    admin = ContextualAccessAdmin(store, changed)
    plugin = (await admin.create_plugin(PluginWrite(body=plugin_body()))).body
    return admin, plugin


async def test_arcades_configs_change_the_hook_at_their_point_and_create_one_where_there_is_none(redis):
    admin, plugin = await admin_with_plugin(redis)
    access = next(h for h in plugin["hooks"] if h["hook_point"] == "tool.access")
    pre = next(h for h in plugin["hooks"] if h["hook_point"] == "tool.pre")
    await admin.delete_hook(HookRef(id=pre["id"]))
    configs = [
        {"plugin_id": plugin["id"], "hook_point": "tool.access", "priority": 9, "status": "inactive"},
        {"plugin_id": plugin["id"], "hook_point": "tool.pre", "failure_mode": "fail_open"},
    ]
    page = await admin.bulk_hooks(HookBulk(items=configs, by_point=True))
    updated, created = page.items
    assert updated == {
        "action": "updated",
        "hook_id": access["id"],
        "hook_point": "tool.access",
        "plugin_id": plugin["id"],
    }
    assert created["action"] == "created" and created["hook_id"] != access["id"]
    hooks = {h["id"]: h for h in (await admin.list_hooks(HookQuery(offset=0, limit=100))).items}
    assert (hooks[access["id"]]["priority"], hooks[access["id"]]["status"]) == (9, "inactive")
    assert hooks[created["hook_id"]]["failure_mode"] == "fail_open"


async def test_valetkeys_hooks_are_matched_by_id_and_an_item_without_one_is_new(redis):
    admin, plugin = await admin_with_plugin(redis)
    access = plugin["hooks"][0]
    items = [
        {"id": access["id"], "priority": 3},
        {"plugin_id": plugin["id"], "hook_point": access["hook_point"]},
    ]
    page = await admin.bulk_hooks(HookBulk(items=items))
    assert [r["action"] for r in page.items] == ["updated", "created"]


async def test_one_bad_config_writes_nothing(redis):
    admin, plugin = await admin_with_plugin(redis)
    before = (await admin.list_hooks(HookQuery(offset=0, limit=100))).items
    configs = [
        {"plugin_id": plugin["id"], "hook_point": "tool.access", "priority": 1},
        {"plugin_id": plugin["id"], "hook_point": "tool.pre", "priority": 5000},
    ]
    with pytest.raises(BadRequest, match=r"configs\.1"):
        await admin.bulk_hooks(HookBulk(items=configs, by_point=True))
    assert (await admin.list_hooks(HookQuery(offset=0, limit=100))).items == before
