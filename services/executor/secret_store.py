"""Tool secrets: ``tools.secrets`` from engine.yaml, plus secrets upserted through the admin API.

Admin secrets live in one Redis hash per project, ``<p>:secrets`` for the default project and
``<p>:p:<project>:secrets`` for another (lower-cased key -> JSON record), the
value encrypted with the root-key cipher and bound to its key by the associated data, so
a value copied under another key does not decrypt. An admin secret overrides a
configured one of the same key; configured secrets serve every project. Keys compare case-insensitively, as
``ToolContext.get_secret`` does. Values never leave this module except into a tool's context.
"""

from __future__ import annotations

import json
import secrets as random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from services.executor.worker_registry import PROJECT_BINDING, STATIC_BINDING
from shared.contracts.common import DEFAULT_PROJECT, utcnow
from shared.errors import Conflict, NotFound
from shared.runtime.crypto import Cipher
from shared.runtime.redisio import text
from shared.tokens.store import project_namespace


@dataclass(frozen=True)
class SecretRecord:
    """One secret's metadata (what ``SecretResponse`` shows) and, for admin secrets, its sealed value."""

    id: str
    key: str
    description: str | None
    created_at: str | None
    updated_at: str | None
    sealed: str | None = None  # None for engine.yaml secrets

    def view(self) -> dict[str, Any]:
        """Arcade's ``SecretResponse``: never the value, not even a part of it."""
        return {
            "id": self.id,
            "key": self.key,
            "description": self.description,
            "hint": "",
            "binding": dict(STATIC_BINDING if self.sealed is None else PROJECT_BINDING),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_accessed_at": None,
        }


def secret_aad(key: str) -> bytes:
    return f"secret\x00{key.lower()}".encode()


class SecretStore:
    """Reads and writes tool secrets.

    Args:
        redis: Shared Redis client (bytes replies).
        cipher: Root-key cipher.
        configured: ``tools.secrets`` (key -> value).
        prefix: Redis key prefix.
    """

    def __init__(self, redis: Redis, cipher: Cipher, configured: Mapping[str, str], *, prefix: str) -> None:
        self._redis = redis
        self._cipher = cipher
        self._configured = {k.lower(): (k, v) for k, v in configured.items()}
        self._prefix = prefix

    def _key(self, project: str) -> str:
        return f"{project_namespace(self._prefix, project)}:secrets"

    async def _admin(self, project: str) -> dict[str, SecretRecord]:
        raw = await self._redis.hgetall(self._key(project))
        return {text(k): SecretRecord(**json.loads(v)) for k, v in raw.items()}

    async def keys(self, project: str = DEFAULT_PROJECT) -> frozenset[str]:
        """Every secret key that has a value in the project (lower-cased)."""
        admin = await self._redis.hkeys(self._key(project))
        return frozenset(self._configured) | {text(k) for k in admin}

    async def values(
        self, wanted: Iterable[str], project: str = DEFAULT_PROJECT
    ) -> tuple[list[dict[str, str]], list[str]]:
        """The ``[{key, value}]`` a tool context carries for ``wanted``, and the keys not found."""
        wanted = list(wanted)
        if not wanted:
            return [], []
        sealed = await self._redis.hmget(self._key(project), [k.lower() for k in wanted])
        found: list[dict[str, str]] = []
        missing: list[str] = []
        for key, record in zip(wanted, sealed, strict=True):
            if record is not None:
                stored = SecretRecord(**json.loads(record))
                value = self._cipher.decrypt(stored.sealed or "", aad=secret_aad(key)).decode()
                found.append({"key": key, "value": value})
            elif key.lower() in self._configured:
                found.append({"key": key, "value": self._configured[key.lower()][1]})
            else:
                missing.append(key)
        return found, missing

    async def list(self, project: str = DEFAULT_PROJECT) -> list[SecretRecord]:
        """Every secret, configured ones first, each key once (an admin secret hides a configured one)."""
        admin = await self._admin(project)
        configured = [
            SecretRecord(
                id=f"sec_cfg_{lower}", key=key, description="engine.yaml", created_at=None, updated_at=None
            )
            for lower, (key, _) in self._configured.items()
            if lower not in admin
        ]
        return configured + sorted(admin.values(), key=lambda r: r.created_at or "")

    async def upsert(
        self, key: str, value: str, description: str | None, project: str = DEFAULT_PROJECT
    ) -> SecretRecord:
        """Create or replace an admin secret; its id stays the same across updates."""
        now = utcnow().isoformat()
        previous = (await self._admin(project)).get(key.lower())
        record = SecretRecord(
            id=previous.id if previous else f"sec_{random.token_urlsafe(12)}",
            key=key,
            description=description
            if description is not None
            else (previous.description if previous else None),
            created_at=previous.created_at if previous else now,
            updated_at=now,
            sealed=self._cipher.encrypt(value.encode(), aad=secret_aad(key)),
        )
        await self._redis.hset(self._key(project), key.lower(), json.dumps(record.__dict__))
        return record

    async def delete(self, secret_id: str, project: str = DEFAULT_PROJECT) -> None:
        """Delete an admin secret by id.

        Raises:
            Conflict: The id names a secret from engine.yaml (edit the file instead).
            NotFound: No secret has this id.
        """
        if secret_id.startswith("sec_cfg_") and secret_id.removeprefix("sec_cfg_") in self._configured:
            raise Conflict(f"secret {secret_id} is defined in engine.yaml; remove it there")
        for lower, record in (await self._admin(project)).items():
            if record.id == secret_id:
                await self._redis.hdel(self._key(project), lower)
                return
        raise NotFound(f"secret {secret_id} not found")
