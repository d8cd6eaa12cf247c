"""Encrypted token storage in Redis, per (user_id, provider_id) connection.

Keys (``<p>`` is the configured prefix, default ``vk``)::

    <p>:token:<connection_id>         encrypted StoredToken (AAD = connection id, user id, provider id,
                                      and the project unless it is the default one)
    <p>:conn:<connection_id>          non-secret metadata (project, user, provider, scopes, status, times)
    <ns>:conns                        zset of a project's connection ids by creation time (admin listing)
    <ns>:conns:user:<sha>             zset of one user's connection ids in a project
    <ns>:conns:provider:<id>          zset of one provider's connection ids in a project
    <p>:conns:reauth                  connections whose grant is dead, and
    <p>:refresh:due                   the proactive refresh schedule (both :mod:`shared.tokens.schedule`),
                                      kept by every write and delete
    <p>:lock:refresh:<connection_id>  the refresher's per-connection lock (owner token, short expiry, renewed)
    <p>:refresh:inflight:<connection_id>  the refresher's in-flight marker: the version of the record whose
                                      refresh token a refresh is spending, when it began, and who; it
                                      outlives the lock, so a refresh killed mid-call leaves it behind

``<ns>`` is ``<p>`` for the project ``default`` (the names before projects) and
``<p>:p:<project>`` for another. Connection ids are derived from the project too
(:func:`shared.tokens.model.connection_id_of`), so the per-connection keys need no project.

On a Redis Cluster the keys are split into shards (:mod:`shared.runtime.keyspace`): every
name above gains its shard's hash tag after ``<p>`` (``<p>:{<p>:s7}:token:<connection_id>``),
a connection's keys are in the shard of its id, and the indexes, the schedule, the reauth set
and the outbox exist once per shard, so a write touches one shard only; listings and counts
read every shard and merge.

The metadata hash also counts ``refresh_failures`` (consecutive; every put resets it) and keeps
``last_used_at`` (:mod:`shared.tokens.last_use`; a put leaves it).

A write replaces token, metadata, indexes and schedule in one step (a Lua script,
atomic like MULTI/EXEC but one reply to parse instead of a dozen), and can carry
outbox events in it (:mod:`shared.bus.outbox`), so a token is never stored without its
schedule and its event. A record's *version* is the SHA-1 of its ciphertext (new on every
write, since every encryption draws a new nonce); scripts compute it with ``redis.sha1hex``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import cast

from pydantic import ValidationError
from redis.asyncio import Redis

from shared.bus.answers import StaleAnswers
from shared.bus.outbox import Outbox
from shared.contracts.common import DEFAULT_PROJECT
from shared.contracts.events import Event
from shared.runtime.crypto import Cipher, DecryptionError
from shared.runtime.held_reads import HeldReads
from shared.runtime.keyspace import Keyspace
from shared.runtime.logging import get_logger
from shared.runtime.redisio import text
from shared.tokens.model import RefreshPolicy, StoredToken, connection_id_of
from shared.tokens.records import (
    PUT_SCRIPT,
    Connection,
    PutPlan,
    meta_fields,
    project_name,
    project_namespace,
    token_aad,
    user_key,
    version_of,
)
from shared.tokens.schedule import RefreshSchedule, Scored

# Named here as they always were (the services import them from the store).
__all__ = [
    "PUT_SCRIPT",
    "Connection",
    "PutPlan",
    "TokenStore",
    "project_name",
    "project_namespace",
    "token_aad",
    "version_of",
]

log = get_logger(__name__)


class TokenStore:
    """Reads and writes tokens, encrypted, with their schedule and index entries.

    Args:
        redis: An asyncio Redis client (bytes responses).
        cipher: The root-key cipher.
        policy: Refresh timing, used to write each token's due time.
        prefix: Key prefix (one shard), when no ``keyspace`` is given.
        keyspace: The key names and shards (``Settings.keyspace``).
    """

    def __init__(
        self,
        redis: Redis,
        cipher: Cipher,
        policy: RefreshPolicy,
        *,
        prefix: str = "vk",
        keyspace: Keyspace | None = None,
    ) -> None:
        self._redis = redis
        self._cipher = cipher
        self._policy = policy
        self.keyspace = keyspace or Keyspace(prefix)
        self.outbox = Outbox(redis, keyspace=self.keyspace)
        self.schedule = RefreshSchedule(redis, self.keyspace)
        # The gateways' answer cache forgets a connection's answers once it changed (shared/bus/answers.py).
        self.stale = StaleAnswers()
        self._put = redis.register_script(PUT_SCRIPT)
        self._reads = HeldReads(redis)

    def shard(self, connection_id: str) -> int:
        return self.keyspace.shard_of_connection(connection_id)

    def token_key(self, connection_id: str) -> str:
        return self.keyspace.key(self.shard(connection_id), f"token:{connection_id}")

    def meta_key(self, connection_id: str) -> str:
        """A connection's metadata hash."""
        return self.keyspace.key(self.shard(connection_id), f"conn:{connection_id}")

    def lock_key(self, connection_id: str) -> str:
        return self.keyspace.key(self.shard(connection_id), f"lock:refresh:{connection_id}")

    def inflight_key(self, connection_id: str) -> str:
        return self.keyspace.key(self.shard(connection_id), f"refresh:inflight:{connection_id}")

    def _index(self, shard: int, project: str, name: str = "") -> str:
        return self.keyspace.key(shard, project_name(project, f"conns{name}"))

    async def get(
        self, user_id: str, provider_id: str, *, project: str = DEFAULT_PROJECT
    ) -> StoredToken | None:
        """The stored token of a user for a provider in a project, decrypted; None when absent."""
        record = await self.record(user_id, provider_id, project=project)
        return self.decode(user_id, provider_id, record, project=project)

    async def latest(
        self, user_id: str, provider_id: str, *, project: str = DEFAULT_PROJECT
    ) -> StoredToken | None:
        """:meth:`get`: this store keeps no copy, so each read is the latest (a cached reader's
        ``get`` may not be: ``shared/tokens/cached.py``)."""
        return await self.get(user_id, provider_id, project=project)

    async def record(self, user_id: str, provider_id: str, *, project: str = DEFAULT_PROJECT) -> bytes | None:
        """The stored token record as read, still encrypted (:meth:`decode` opens it); None when absent."""
        connection_id = connection_id_of(user_id, provider_id, project)
        record: bytes | None = await self._reads.get(self.token_key(connection_id))
        return record

    def decode(
        self, user_id: str, provider_id: str, record: bytes | str | None, *, project: str = DEFAULT_PROJECT
    ) -> StoredToken | None:
        """A record the caller read at ``token_key`` itself (e.g. in a script), decrypted.

        None for no record, and for one that does not decrypt (written under a key no longer
        configured, or damaged): the user is asked to authorize again, and that
        authorization's token replaces the record. One bad record never fails a request.
        """
        if record is None:
            return None
        connection_id = connection_id_of(user_id, provider_id, project)
        aad = token_aad(connection_id, user_id, provider_id, project)
        try:
            plaintext = self._cipher.decrypt(record, aad=aad)
        except DecryptionError as exc:
            log.warning("token.record_unreadable", connection_id=connection_id, error=exc.message)
            return None
        # Every tool call and status read decodes one: pydantic-core parses and validates in
        # one step; what it refuses (a lone surrogate in the user info) goes the standard way.
        try:
            return StoredToken.model_validate_json(plaintext)
        except ValidationError:
            return StoredToken.model_validate(json.loads(plaintext))

    async def put(
        self,
        user_id: str,
        provider_id: str,
        token: StoredToken,
        *,
        events: list[Event] | None = None,
        lock_owner: str | None = None,
        project: str = DEFAULT_PROJECT,
    ) -> Connection:
        """Store a token with its metadata, indexes, refresh schedule and events, atomically.

        ``lock_owner``: release the connection's refresh lock in the same step, if that
        owner still holds it (the refresher's write ends its lock this way).
        """
        written = await self.write(
            user_id, provider_id, token, events=events, lock_owner=lock_owner, project=project
        )
        assert written is not None  # unconditional writes always land
        return written[0]

    async def write(
        self,
        user_id: str,
        provider_id: str,
        token: StoredToken,
        *,
        events: list[Event] | None = None,
        lock_owner: str | None = None,
        inflight: str | None = None,
        if_version: str | None = None,
        project: str = DEFAULT_PROJECT,
    ) -> tuple[Connection, str] | None:
        """:meth:`put`, with the refresher's extras; returns the metadata and the new record's version.

        ``inflight``: clear the connection's in-flight marker in the same step, if it still
        holds this value. ``if_version``: write only if the stored record still has this
        version; None comes back (and nothing is written) when it has another or none.
        """
        plan = self.plan_put(
            user_id,
            provider_id,
            token,
            events=events,
            lock_owner=lock_owner,
            inflight=inflight,
            if_version=if_version,
            project=project,
        )
        created_at = await self._put(keys=plan.keys, args=plan.args)
        if created_at is None:
            return None
        await self.changed(plan.connection)
        return dataclasses.replace(plan.connection, created_at=text(created_at)), plan.version

    def plan_put(
        self,
        user_id: str,
        provider_id: str,
        token: StoredToken,
        *,
        events: list[Event] | None = None,
        lock_owner: str | None = None,
        inflight: str | None = None,
        if_version: str | None = None,
        project: str = DEFAULT_PROJECT,
    ) -> PutPlan:
        """The keys and arguments of ``PUT_SCRIPT`` for a write, for a caller that runs the
        script inside a bigger atomic step of its own (the authorizer's completion)."""
        connection_id = connection_id_of(user_id, provider_id, project)
        now = token.issued_at.isoformat()
        meta = Connection(
            id=connection_id,
            user_id=user_id,
            provider_id=provider_id,
            provider_type="oauth2",  # Arcade's only provider type
            scopes=token.scopes,
            status=token.status,
            created_at=now,  # replaced by the stored creation time, if any
            updated_at=now,
            expires_at=token.expires_at.isoformat() if token.expires_at else None,
            project=project,
        )
        record = self._cipher.encrypt_json(
            token.model_dump(mode="json"), aad=token_aad(connection_id, user_id, provider_id, project)
        )
        fields = meta_fields(meta)
        shard = self.shard(connection_id)
        keys = [
            self.token_key(connection_id),
            self.meta_key(connection_id),
            self._index(shard, project),
            self._index(shard, project, f":user:{user_key(user_id)}"),
            self._index(shard, project, f":provider:{provider_id}"),
            self.schedule.due_key_of(shard),
            self.outbox.key_of(shard),
            self.lock_key(connection_id),
            self.inflight_key(connection_id),
            self.schedule.reauth_key_of(shard),
        ]
        args: list[str | bytes | float | int] = [
            record,
            now,  # created_at is written once (HSETNX) and read back in the same step
            token.issued_at.timestamp(),
            connection_id,
            self._due_score(token),
            lock_owner or "",
            inflight or "",
            if_version or "",
            len(fields),
            *(item for pair in fields.items() for item in pair),
            *(item for e in events or [] for item in Outbox.entry(e)),
        ]
        return PutPlan(keys=keys, args=args, connection=meta, version=version_of(record))

    def _due_score(self, token: StoredToken) -> float | str:
        due = self._policy.due_at(token)
        if due is None or token.refresh_token is None or token.status != "active":
            return ""
        return due.timestamp()

    async def connection(self, connection_id: str) -> Connection | None:
        """Metadata of one connection by id."""
        raw = await self._redis.hgetall(self.meta_key(connection_id))
        if not raw:
            return None
        data = {text(k): text(v) for k, v in raw.items()}
        return Connection(
            id=connection_id,
            user_id=data["user_id"],
            provider_id=data["provider_id"],
            provider_type=data.get("provider_type", "oauth2"),
            scopes=json.loads(data.get("scopes", "[]")),
            status=data.get("status", "active"),
            created_at=data.get("created_at", ""),
            updated_at=data.get("updated_at", ""),
            expires_at=data.get("expires_at") or None,
            project=data.get("project") or DEFAULT_PROJECT,
            refresh_failures=int(data.get("refresh_failures") or 0),
            last_used_at=data.get("last_used_at") or None,
        )

    async def list_connections(
        self,
        *,
        project: str = DEFAULT_PROJECT,
        user_id: str | None = None,
        provider_id: str | None = None,
        offset: int = 0,
        limit: int = 25,
    ) -> tuple[list[Connection], int]:
        """One page of a project's connections, newest last, optionally filtered by user and/or provider."""
        if user_id is not None and provider_id is not None:
            one = await self.connection(connection_id_of(user_id, provider_id, project))
            items = [one] if one else []
            return items[offset : offset + limit], len(items)
        if user_id is not None:
            name = f":user:{user_key(user_id)}"
        elif provider_id is not None:
            name = f":provider:{provider_id}"
        else:
            name = ""
        ids, total = await self._page(
            [self._index(n, project, name) for n in self.keyspace.all], offset, limit
        )
        found = [await self.connection(i) for i in ids]
        return [c for c in found if c is not None], total

    async def _page(self, indexes: list[str], offset: int, limit: int) -> tuple[list[str], int]:
        """One page of the members of ``indexes`` (one per shard) in score order, and their total."""
        if len(indexes) == 1:
            total = int(await self._redis.zcard(indexes[0]))
            return [text(i) for i in await self._redis.zrange(indexes[0], offset, offset + limit - 1)], total
        async with self._redis.pipeline(transaction=False) as pipe:
            for index in indexes:
                pipe.zcard(index)
                pipe.zrange(index, 0, offset + limit - 1, withscores=True)
            replies = await pipe.execute()
        total = sum(int(count) for count in replies[0::2])
        merged = sorted(
            (float(score), text(member)) for page in replies[1::2] for member, score in cast(Scored, page)
        )
        return [member for _, member in merged[offset : offset + limit]], total

    async def delete(self, connection_id: str, *, events: list[Event] | None = None) -> Connection | None:
        """Remove a connection, its token, indexes and schedule; returns what was removed."""
        meta = await self.connection(connection_id)
        if meta is None:
            return None
        shard = self.shard(connection_id)
        async with self._redis.pipeline(transaction=True) as pipe:  # all in the connection's shard
            pipe.delete(self.token_key(connection_id), self.meta_key(connection_id))
            pipe.zrem(self._index(shard, meta.project), connection_id)
            pipe.zrem(self._index(shard, meta.project, f":user:{user_key(meta.user_id)}"), connection_id)
            pipe.zrem(self._index(shard, meta.project, f":provider:{meta.provider_id}"), connection_id)
            pipe.zrem(self.schedule.due_key_of(shard), connection_id)
            pipe.srem(self.schedule.reauth_key_of(shard), connection_id)
            for event in events or []:
                self.outbox.add(pipe, event, shard=shard)
            await pipe.execute()
        await self.changed(meta)
        return meta

    async def changed(self, connection: Connection) -> None:
        """Tell the gateways that answers about ``connection`` changed (after a write that landed;
        :meth:`write` and :meth:`delete` do it, a caller running :meth:`plan_put`'s script does)."""
        await self.stale.publish(
            connection.project, user_id=connection.user_id, provider_id=connection.provider_id
        )

    async def record_refresh_failure(self, connection_id: str) -> int:
        """Count one more consecutive refresh failure; returns the count (0 if the connection is gone)."""
        if not await self._redis.exists(self.meta_key(connection_id)):
            return 0
        return int(await self._redis.hincrby(self.meta_key(connection_id), "refresh_failures", 1))
