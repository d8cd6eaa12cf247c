"""Redis implementation of the authorizer's flow store (the provider port is
``shared.providers.client.ProviderClient`` itself).

Keys (``<p>`` is the key prefix)::

    <p>:authz:<id>               JSON authorization record; its secrets (PKCE verifier, held token) encrypted
    <p>:authz:state:<sha256>     {"authorization_id", "provider_id"}, TTL = state TTL, taken with GETDEL
    <p>:authz:stateref:<sha256>  authorization id, kept as long as the record, to name what an
                                 expired or replayed state belonged to
    <p>:authz:flow:<flow_id>     authorization id waiting for confirm_user, TTL = state TTL
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from cachetools import TLRUCache
from redis.asyncio import Redis

from services.authorizer.domain import AuthorizationRecord, AuthorizationSecrets, state_digest
from services.authorizer.ports import StateClaim
from shared.bus.outbox import Outbox
from shared.contracts.events import Event
from shared.runtime.crypto import Cipher
from shared.runtime.redisio import text

# Completed records kept in process: status polling is the hottest read, and a completed
# record never changes again (only its token does, and that is read from Redis every time).
DONE_CACHE_SIZE = 10_000


class RedisAuthorizationStore:
    """Authorization records, states and verification flows in Redis.

    Args:
        redis: Async client (bytes replies).
        cipher: Encrypts each record's secrets, bound to the authorization id.
        outbox: Events saved with a record go here in the same transaction.
        prefix: Key prefix.
        record_ttl_seconds: How long a record (and its state reference) is kept.

    A completed record is immutable, so it is also kept in process (at most
    ``DONE_CACHE_SIZE``, each until the moment its Redis key expires): polling a completed
    authorization then costs one Redis read, the token's, instead of two.
    """

    def __init__(
        self, redis: Redis, cipher: Cipher, outbox: Outbox, *, prefix: str, record_ttl_seconds: int
    ) -> None:
        self._redis = redis
        self._cipher = cipher
        self._outbox = outbox
        self._p = f"{prefix}:authz"
        self._ttl = record_ttl_seconds
        self._done: TLRUCache[str, AuthorizationRecord] = TLRUCache(
            maxsize=DONE_CACHE_SIZE, ttu=self._expires_at, timer=time.time
        )

    def _expires_at(self, _key: str, record: AuthorizationRecord, _now: float) -> float:
        """When the record's Redis key expires: every save sets the TTL afresh."""
        return record.updated_at.timestamp() + self._ttl

    def _remember(self, record: AuthorizationRecord) -> AuthorizationRecord:
        if record.status == "completed":
            self._done[record.id] = record
        return record

    def _record_key(self, auth_id: str) -> str:
        return f"{self._p}:{auth_id}"

    def _encode(self, record: AuthorizationRecord) -> str:
        data = record.model_dump(mode="json", exclude={"secrets"})
        secrets = record.secrets.model_dump(mode="json", exclude_none=True)
        if secrets:
            aad = f"authz\x00{record.id}".encode()
            data["secrets"] = self._cipher.encrypt_json(secrets, aad=aad)
        return json.dumps(data)

    def _decode(self, raw: bytes | str) -> AuthorizationRecord:
        data = json.loads(raw)
        blob = data.pop("secrets", None)
        record = AuthorizationRecord.model_validate(data)
        if blob is None:
            return record
        secrets = self._cipher.decrypt_json(blob, aad=f"authz\x00{record.id}".encode())
        return record.model_copy(update={"secrets": AuthorizationSecrets.model_validate(secrets)})

    async def create(self, record: AuthorizationRecord, *, state: str, ttl_seconds: int) -> None:
        digest, encoded = state_digest(state), self._encode(record)
        claim = {"authorization_id": record.id, "provider_id": record.provider_id, "record": encoded}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._record_key(record.id), encoded, ex=self._ttl)
            pipe.set(f"{self._p}:state:{digest}", json.dumps(claim), ex=ttl_seconds)
            pipe.set(f"{self._p}:stateref:{digest}", record.id, ex=self._ttl)
            await pipe.execute()

    async def get(self, authorization_id: str) -> AuthorizationRecord | None:
        if (done := self._done.get(authorization_id)) is not None:
            return done
        raw = await self._redis.get(self._record_key(authorization_id))
        return None if raw is None else self._remember(self._decode(raw))

    async def save(self, record: AuthorizationRecord, *, events: Sequence[Event] = ()) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._record_key(record.id), self._encode(record), ex=self._ttl)
            for event in events:
                self._outbox.add(pipe, event)
            await pipe.execute()
        self._remember(record)

    async def consume_state(self, state: str) -> StateClaim | None:
        raw = await self._redis.getdel(f"{self._p}:state:{state_digest(state)}")
        if raw is None:
            return None
        data = json.loads(raw)
        record = self._decode(data["record"]) if "record" in data else None
        return StateClaim(data["authorization_id"], data["provider_id"], record)

    async def state_owner(self, state: str) -> str | None:
        raw = await self._redis.get(f"{self._p}:stateref:{state_digest(state)}")
        return None if raw is None else text(raw)

    async def hold_for_verification(self, record: AuthorizationRecord, *, ttl_seconds: int) -> None:
        if record.flow_id is None:
            raise ValueError("a record held for verification needs a flow_id")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._record_key(record.id), self._encode(record), ex=self._ttl)
            pipe.set(f"{self._p}:flow:{record.flow_id}", record.id, ex=ttl_seconds)
            await pipe.execute()

    async def take_flow(self, flow_id: str) -> str | None:
        raw = await self._redis.getdel(f"{self._p}:flow:{flow_id}")
        return None if raw is None else text(raw)

    async def peek_flow(self, flow_id: str) -> str | None:
        raw = await self._redis.get(f"{self._p}:flow:{flow_id}")
        return None if raw is None else text(raw)
