"""`valetkey rotate-keys`: re-encrypt every sealed record under the current default key.

Run it after adding a new default key beside the old one (``security.root_keys``, or
``security.webhook_keys``). Every record sealed under another key id is opened and sealed again
under its family's default key: tokens, pending authorizations, runtime auth providers, tool
secrets and workers under the default root key; webhook endpoints' signing secrets under the
default webhook key. Afterwards no record names an old key id, and the old key can be removed.

Webhook endpoints stored before webhook keys existed are sealed under a root key, which the
webhooks service no longer holds: a run with both families configured moves them under the
webhook key (once; the webhooks service skips them, saying so, until then).

- **Online**: the engine keeps serving. Each record is replaced with a compare-and-set on
  its old value, so a token the refresher wrote meanwhile (already under the default key)
  is never overwritten with an older one; a record that changed is read again.
- **Resumable**: a record already under the default key is skipped, so a run killed at any
  moment is finished by running the command again.
- A record no configured key opens is counted as unreadable and left as it is.
- **Sharded** keys (a Redis Cluster, ``shared.runtime.keyspace``) are walked shard by shard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from redis.asyncio import Redis
from rich.progress import Progress

from services.authorizer.adapters import authorization_aad
from services.executor.secret_store import secret_aad
from services.executor.worker_registry import worker_aad
from services.webhooks.adapters import endpoint_aad
from shared.contracts.common import DEFAULT_PROJECT
from shared.providers.registry import provider_aad
from shared.runtime.crypto import ROOT_KEYS, Cipher, DecryptionError
from shared.runtime.keyspace import Keyspace
from shared.runtime.redisio import text
from shared.tokens.store import project_name, project_namespace, token_aad

# Replace a string key / a hash field only if it still holds what was read.
_SET_IF_SAME = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
"""
_HSET_IF_SAME = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
"""
# The hashes of sealed records, and the group whose hash tag they carry on a cluster (or none).
HASHES = {"providers": "providers", "secrets": None, "workers": None, "webhooks:endpoints": "webhooks"}
BATCH = 500
ATTEMPTS = 5  # a record rewritten this often while we look is left for the next run


@dataclass
class Tally:
    """What a run did, per kind of record."""

    resealed: dict[str, int] = field(default_factory=dict)
    current: int = 0  # already under the default key
    unreadable: int = 0

    @property
    def total_resealed(self) -> int:
        return sum(self.resealed.values())


def reseal(cipher: Cipher, sealed: str, aad: bytes) -> str | None:
    """``sealed`` under the default key, or None when it already is.

    Raises:
        DecryptionError: No configured key opens it.
    """
    if cipher.is_current(sealed):
        return None
    return cipher.encrypt(cipher.decrypt(sealed, aad=aad), aad=aad)


def reseal_webhook(root: Cipher, webhook: Cipher, sealed: str, aad: bytes) -> str | None:
    """A webhook secret under the default webhook key, or None when it already is; one still
    sealed under a root key (stored before webhook keys existed) is opened with the root keys.

    Raises:
        DecryptionError: No configured key of its family opens it.
    """
    if webhook.is_current(sealed):
        return None
    opener = root if Cipher.family_of(sealed) == ROOT_KEYS.version else webhook
    return webhook.encrypt(opener.decrypt(sealed, aad=aad), aad=aad)


Resealer = Callable[[str, bytes], str | None]


def reseal_fields(resealer: Resealer, raw: str, names: tuple[str, ...], aad: bytes) -> str | None:
    """A JSON record with its sealed ``names`` resealed, or None when none changed."""
    data: dict[str, Any] = json.loads(raw)
    changed = False
    for name in names:
        if isinstance(data.get(name), str) and data[name]:
            fresh = resealer(data[name], aad)
            if fresh is not None:
                data[name], changed = fresh, True
    return json.dumps(data) if changed else None


class Rotation:
    """Walks every kind of sealed record in one deployment (Redis key prefix).

    Args:
        cipher: The root keys.
        webhook_cipher: The webhook keys (webhook endpoints' secrets).
    """

    def __init__(
        self,
        redis: Redis,
        cipher: Cipher,
        *,
        webhook_cipher: Cipher,
        prefix: str,
        keyspace: Keyspace | None = None,
    ) -> None:
        self._redis, self._cipher, self._p = redis, cipher, prefix
        self._keys = keyspace or Keyspace(prefix)
        self._root_reseal: Resealer = partial(reseal, cipher)
        self._webhook_reseal: Resealer = partial(reseal_webhook, cipher, webhook_cipher)
        self._set_if_same = redis.register_script(_SET_IF_SAME)
        self._hset_if_same = redis.register_script(_HSET_IF_SAME)
        self.tally = Tally()

    def _tagged(self, pattern: str) -> list[str]:
        """Scan patterns for ``<p>:<pattern>``: the plain name, and the hash-tagged ones."""
        if not self._keys.sharded:
            return [f"{self._p}:{pattern}"]
        return [f"{self._p}:{pattern}", f"{self._p}:{{{self._p}:*}}:{pattern}"]

    async def projects(self) -> list[str]:
        """Every project with keys: ``default``, and each ``<project>`` of ``<p>[:{tag}]:p:<project>:``."""
        found = {DEFAULT_PROJECT}
        named = re.compile(rf"^{re.escape(self._p)}:(?:\{{[^}}]*\}}:)?p:([^:]+):")
        for pattern in self._tagged("p:*"):
            async for key in self._redis.scan_iter(match=pattern, count=BATCH):
                if match := named.match(text(key)):
                    found.add(match.group(1))
        return sorted(found)

    def _hash_key(self, project: str, name: str) -> str:
        group = HASHES[name]
        base = self._p if group is None else self._keys.grouped(group)
        return f"{project_namespace(base, project)}:{name}"

    def _indexes(self, project: str) -> list[str]:
        return [self._keys.key(shard, project_name(project, "conns")) for shard in self._keys.all]

    def _connection_key(self, kind: str, connection_id: str) -> str:
        return self._keys.key(self._keys.shard_of_connection(connection_id), f"{kind}:{connection_id}")

    async def count(self) -> int:
        """How many records the run will look at (for the progress bar)."""
        total = 0
        for project in await self.projects():
            for index in self._indexes(project):
                total += int(await self._redis.zcard(index))
            for name in HASHES:
                total += int(await self._redis.hlen(self._hash_key(project, name)))
        return total

    async def run(self, advance: Callable[[int], None] = lambda _: None) -> Tally:
        await self._tokens(advance)
        await self._authorizations()
        await self._hash("providers", lambda name, raw: self._sealed(raw, provider_aad(name)), advance)
        await self._json_hash("secrets", ("sealed",), secret_aad, advance)
        await self._json_hash("workers", ("sealed", "sealed_headers"), worker_aad, advance)
        webhook_secrets = ("secret", "previous_secret")
        await self._json_hash(
            "webhooks:endpoints", webhook_secrets, endpoint_aad, advance, self._webhook_reseal
        )
        return self.tally

    def _sealed(self, raw: str, aad: bytes) -> str | None:
        return reseal(self._cipher, raw, aad)

    def _resealed(self, kind: str) -> None:
        self.tally.resealed[kind] = self.tally.resealed.get(kind, 0) + 1

    async def _tokens(self, advance: Callable[[int], None]) -> None:
        # ZSCAN: every connection present for the whole run is visited, whatever else changes.
        batch: list[str] = []
        for project in await self.projects():
            for index in self._indexes(project):
                async for member, _ in self._redis.zscan_iter(index, count=BATCH):
                    batch.append(text(member))
                    if len(batch) == BATCH:
                        await self._token_batch(batch)
                        advance(len(batch))
                        batch = []
        await self._token_batch(batch)
        advance(len(batch))

    async def _token_batch(self, connection_ids: list[str]) -> None:
        """One round trip to read a batch, one to swap what changed; a lost race goes one by one."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for connection_id in connection_ids:
                pipe.hmget(self._connection_key("conn", connection_id), ["user_id", "provider_id", "project"])
                pipe.get(self._connection_key("token", connection_id))
            replies = await pipe.execute()
        swaps: list[tuple[str, bytes, str]] = []
        for index, connection_id in enumerate(connection_ids):
            aad, raw = _aad_of(connection_id, replies[2 * index]), replies[2 * index + 1]
            if raw is None or aad is None:
                continue
            fresh = self._guarded(partial(self._sealed, aad=aad), text(raw))
            if fresh is not None:
                swaps.append((connection_id, raw, fresh))
        async with self._redis.pipeline(transaction=False) as pipe:
            for connection_id, raw, fresh in swaps:
                await self._set_if_same(
                    keys=[self._connection_key("token", connection_id)], args=[raw, fresh], client=pipe
                )
            swapped = await pipe.execute() if swaps else []
        for (connection_id, _, _), applied in zip(swaps, swapped, strict=True):
            if applied:
                self._resealed("tokens")
            else:  # written meanwhile (a refresh): look again on its own
                await self._token(connection_id)

    async def _token(self, connection_id: str) -> None:
        meta = await self._redis.hmget(
            self._connection_key("conn", connection_id), ["user_id", "provider_id", "project"]
        )
        if (aad := _aad_of(connection_id, meta)) is None:
            return
        key = self._connection_key("token", connection_id)
        await self._string(key, "tokens", lambda raw: self._sealed(raw, aad))

    async def _authorizations(self) -> None:
        for pattern in self._tagged("authz:ac_*"):
            async for key in self._redis.scan_iter(match=pattern, count=BATCH):
                name = text(key)
                authorization_id = name.rsplit(":", 1)[1]

                def resealed(raw: str, aad: bytes = authorization_aad(authorization_id)) -> str | None:
                    return reseal_fields(self._root_reseal, raw, ("secrets",), aad)

                await self._string(name, "authorizations", resealed)

    async def _string(self, key: str, kind: str, resealed: Callable[[str], str | None]) -> None:
        for _ in range(ATTEMPTS):
            raw = await self._redis.get(key)
            if raw is None:
                return
            fresh = self._guarded(resealed, text(raw))
            if fresh is None:
                return
            if await self._set_if_same(keys=[key], args=[raw, fresh]):
                self._resealed(kind)
                return

    async def _json_hash(
        self,
        name: str,
        fields: tuple[str, ...],
        aad_of: Callable[[str], bytes],
        advance: Callable[[int], None],
        resealer: Resealer | None = None,
    ) -> None:
        """A hash of JSON records whose ``fields`` are sealed, bound to the record's field name."""

        def resealed(field_name: str, raw: str) -> str | None:
            return reseal_fields(resealer or self._root_reseal, raw, fields, aad_of(field_name))

        await self._hash(name, resealed, advance)

    async def _hash(
        self, name: str, resealed: Callable[[str, str], str | None], advance: Callable[[int], None]
    ) -> None:
        for project in await self.projects():
            key = self._hash_key(project, name)
            async for field_name, raw in self._redis.hscan_iter(key, count=BATCH):
                await self._field(key, name, text(field_name), text(raw), resealed)
                advance(1)

    async def _field(
        self, key: str, kind: str, name: str, raw: str, resealed: Callable[[str, str], str | None]
    ) -> None:
        for _ in range(ATTEMPTS):
            fresh = self._guarded(lambda value: resealed(name, value), raw)
            if fresh is None:
                return
            if await self._hset_if_same(keys=[key], args=[name, raw, fresh]):
                self._resealed(kind)
                return
            current = await self._redis.hget(key, name)
            if current is None:
                return
            raw = text(current)

    def _guarded(self, resealed: Callable[[str], str | None], raw: str) -> str | None:
        try:
            fresh = resealed(raw)
        except (DecryptionError, ValueError, KeyError):
            self.tally.unreadable += 1
            return None
        if fresh is None:
            self.tally.current += 1
        return fresh


def _aad_of(connection_id: str, meta: list[Any]) -> bytes | None:
    """A token's associated data from its connection's ``[user_id, provider_id, project]``; None when gone."""
    user_id, provider_id, project = meta
    if user_id is None or provider_id is None:
        return None
    return token_aad(
        connection_id, text(user_id), text(provider_id), DEFAULT_PROJECT if project is None else text(project)
    )


async def rotate(
    redis: Redis,
    cipher: Cipher,
    *,
    webhook_cipher: Cipher,
    prefix: str,
    show_progress: bool = True,
    keyspace: Keyspace | None = None,
) -> Tally:
    """Re-encrypt everything under ``cipher``'s default key (webhook endpoints' secrets under
    ``webhook_cipher``'s); returns what was done."""
    rotation = Rotation(redis, cipher, webhook_cipher=webhook_cipher, prefix=prefix, keyspace=keyspace)
    total = await rotation.count()
    with Progress(disable=not show_progress, transient=False) as progress:
        task = progress.add_task(f"re-encrypting under key {cipher.default_key_id!r}", total=total)
        return await rotation.run(lambda n: progress.advance(task, n))
