"""Where a project's plugins and hooks are kept (docs/contextual-access.md, "Storage").

Two Redis hashes per project, ``<p>:plugins`` and ``<p>:hooks`` (``<p>:p:<project>:...`` outside
``default``), id -> JSON record. A plugin's token is sealed with the root-key cipher, bound to the
plugin's id, and opened only into the headers of a call to that plugin.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from redis.asyncio import Redis

from shared.runtime.crypto import Cipher
from shared.runtime.redisio import text
from shared.tokens.records import project_namespace


def plugin_aad(plugin_id: str) -> bytes:
    return f"plugin\x00{plugin_id}".encode()


class HookStore:
    """Reads and writes plugin and hook records.

    Args:
        redis: Shared Redis client (bytes replies).
        cipher: Root-key cipher (plugin tokens).
        prefix: Redis key prefix.
    """

    def __init__(self, redis: Redis, cipher: Cipher, *, prefix: str) -> None:
        self._redis = redis
        self._cipher = cipher
        self._prefix = prefix

    def _key(self, project: str, kind: str) -> str:
        return f"{project_namespace(self._prefix, project)}:{kind}"

    async def _all(self, project: str, kind: str) -> dict[str, dict[str, Any]]:
        raw = await self._redis.hgetall(self._key(project, kind))
        return {text(k): json.loads(v) for k, v in raw.items()}

    async def plugins(self, project: str) -> dict[str, dict[str, Any]]:
        """Every plugin of the project by id (tokens still sealed)."""
        return await self._all(project, "plugins")

    async def hooks(self, project: str) -> dict[str, dict[str, Any]]:
        """Every hook of the project by id."""
        return await self._all(project, "hooks")

    async def plugin(self, project: str, plugin_id: str) -> dict[str, Any] | None:
        raw = await self._redis.hget(self._key(project, "plugins"), plugin_id)
        return None if raw is None else dict(json.loads(raw))

    async def hook(self, project: str, hook_id: str) -> dict[str, Any] | None:
        raw = await self._redis.hget(self._key(project, "hooks"), hook_id)
        return None if raw is None else dict(json.loads(raw))

    async def create_plugin(self, project: str, record: Mapping[str, Any]) -> bool:
        """Save a new plugin; False when its id is taken."""
        return bool(await self._redis.hsetnx(self._key(project, "plugins"), record["id"], json.dumps(record)))

    async def put_plugin(self, project: str, record: Mapping[str, Any]) -> None:
        await self._redis.hset(self._key(project, "plugins"), record["id"], json.dumps(record))

    async def put_hooks(self, project: str, records: Iterable[Mapping[str, Any]]) -> None:
        mapping = {r["id"]: json.dumps(r) for r in records}
        if mapping:
            await self._redis.hset(self._key(project, "hooks"), mapping=mapping)

    async def delete_plugin(self, project: str, plugin_id: str) -> bool:
        return bool(await self._redis.hdel(self._key(project, "plugins"), plugin_id))

    async def delete_hooks(self, project: str, hook_ids: Iterable[str]) -> int:
        ids = list(hook_ids)
        return int(await self._redis.hdel(self._key(project, "hooks"), *ids)) if ids else 0

    def seal(self, plugin_id: str, token: str) -> str:
        return self._cipher.encrypt(token.encode(), aad=plugin_aad(plugin_id))

    def headers(self, plugin: Mapping[str, Any]) -> dict[str, str]:
        """The headers that authenticate a call to ``plugin`` (its token opened here)."""
        auth = (plugin.get("webhook_config") or {}).get("auth") or {}
        sealed = plugin.get("sealed_token")
        if not sealed or auth.get("type") not in ("bearer", "header"):
            return {}
        token = self._cipher.decrypt(sealed, aad=plugin_aad(plugin["id"])).decode()
        if auth["type"] == "bearer":
            return {"authorization": f"Bearer {token}"}
        return {str(auth.get("header_name") or "x-arcade-secret"): token}
