"""Redis implementation of the authorizer's flow store (the provider port is
``shared.providers.client.ProviderClient`` itself; the verification sign-in's OpenID
provider is ``services.authorizer.oidc_sign_in``).

Keys (``<p>`` is the key prefix)::

    <p>:authz:<id>               JSON authorization record; its secrets (PKCE verifier, held token) encrypted
    <p>:authz:state:<sha256>     {"authorization_id", "provider_id", "record"}, TTL = state TTL: while it
                                 lives, a callback with this state is accepted
    <p>:authz:stateref:<sha256>  authorization id, kept as long as the record, to name what an
                                 expired state belonged to
    <p>:authz:flow:<flow_id>     authorization id waiting for confirm_user, TTL = state TTL
    <p>:authz:deadlines          sorted set: authorization id -> epoch seconds its stage is given up
    <p>:authz:pending:<project>  sorted set: authorization id in flight -> epoch seconds it stops being
                                 (its state's expiry, then its stage's deadline); the console's list
    <p>:authz:counts:<project>:<YYYYMMDDHH>  {"started": n}: authorizations started that hour, 8 days

On a Redis Cluster every name gains its shard's hash tag (:mod:`shared.runtime.keyspace`): a
record, its state keys, its flow key and its deadline entry (one deadlines set per shard) live
in the shard of the connection it writes, which its id, its state and its flow id name
(``ac_s7_...``), so each step below touches one shard. The in-flight index is written in the
same step as the record (one copy per shard, read across them: ``services/authorizer/in_flight.py``).

Every change of a record is a compare-and-set on its stage (``TRANSITION_SCRIPT``), which
also keeps its deadline entry and adds its events to the outbox in the same step; the
completion also writes the token (``COMPLETE_SCRIPT``, the token store's own script inside);
the claim of a callback at the replica that started its flow checks in the same step that its
state is still live (``CLAIM_SCRIPT``), so it reads no state first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from cachetools import TLRUCache
from redis.asyncio import Redis

from services.authorizer.domain import (
    AuthorizationRecord,
    AuthorizationSecrets,
    Stage,
    check_transition,
    state_digest,
)
from services.authorizer.in_flight import KEEP_COUNTS_SECONDS, in_flight_key, started_key
from services.authorizer.ports import StateClaim, Transition
from shared.bus.outbox import Outbox
from shared.contracts.events import Event
from shared.runtime.crypto import Cipher
from shared.runtime.keyspace import Keyspace
from shared.runtime.redisio import text, through_outage
from shared.tokens.model import StoredToken
from shared.tokens.store import PUT_SCRIPT, TokenStore

# The compare: is the stored record (JSON) still in the expected stage? Answers {0, record}
# (or {0} when it is gone) to a caller that lost the race.
_COMPARE = """
local current = redis.call('GET', KEYS[1])
if not current then return {0} end
if cjson.decode(current)['stage'] ~= ARGV[1] then return {0, current} end
"""

# KEYS: record, deadlines, outbox, in flight[, flow]. ARGV: expected stage, new record, record
# TTL, deadline score ('' = none: the record is done, so no longer in flight either),
# authorization id, flow TTL, then event id/JSON pairs.
TRANSITION_SCRIPT = (
    _COMPARE
    + """
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[2], ARGV[5])
  redis.call('ZREM', KEYS[4], ARGV[5])
else
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
  redis.call('EXPIRE', KEYS[4], ARGV[3])
end
if KEYS[5] then
  redis.call('SET', KEYS[5], ARGV[5], 'EX', ARGV[6])
end
for i = 7, #ARGV, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
return {1}
"""
)

# KEYS: record, deadlines, in flight, then the token store's write keys. ARGV: expected stage,
# new record, record TTL, authorization id, then the token store's write arguments (with the
# completion event). The token write runs as a function whose KEYS and ARGV are those tails.
COMPLETE_SCRIPT = (
    _COMPARE
    + """
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[4])
local function tail(list, first)
  local out = {}
  for i = first, #list do out[#out + 1] = list[i] end
  return out
end
local function put(KEYS, ARGV)
"""
    + PUT_SCRIPT
    + """
end
put(tail(KEYS, 4), tail(ARGV, 5))
return {1}
"""
)

# The claim of a callback whose record the replica holds (it started the flow): the state
# must still be live, then the transition of TRANSITION_SCRIPT (no flow, no events). Answers
# {2} when the state is gone. KEYS: record, deadlines, in flight, state. ARGV: expected stage,
# new record, record TTL, deadline score, authorization id.
CLAIM_SCRIPT = (
    """
if redis.call('EXISTS', KEYS[4]) == 0 then return {2} end
"""
    + _COMPARE
    + """
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return {1}
"""
)

Scored = list[tuple[bytes, float]]  # a WITHSCORES reply

# Completed records kept in process: status polling is the hottest read, and a completed
# record never changes again (only its token does, and that is read from Redis every time).
DONE_CACHE_SIZE = 10_000


def authorization_aad(authorization_id: str) -> bytes:
    """What an authorization record's sealed secrets are bound to: its id."""
    return f"authz\x00{authorization_id}".encode()


class RedisAuthorizationStore:
    """Authorization records, states and verification flows in Redis.

    Args:
        redis: Async client (bytes replies).
        cipher: Encrypts each record's secrets, bound to the authorization id.
        tokens: The token store: a completion writes its token, and every transition its
            events (to the token store's outbox), in the same step as the record.
        prefix: Key prefix.
        record_ttl_seconds: How long a record (and its state reference) is kept.

    A completed record is immutable, so it is also kept in process (at most
    ``DONE_CACHE_SIZE``, each until the moment its Redis key expires): polling a completed
    authorization then costs one Redis read, the token's, instead of two.
    """

    def __init__(
        self, redis: Redis, cipher: Cipher, tokens: TokenStore, *, prefix: str, record_ttl_seconds: int
    ) -> None:
        self._redis = redis
        self._cipher = cipher
        self._tokens = tokens
        self._keys = Keyspace(prefix, tokens.keyspace.shards)
        self._transition = redis.register_script(TRANSITION_SCRIPT)
        self._complete = redis.register_script(COMPLETE_SCRIPT)
        self._claim = redis.register_script(CLAIM_SCRIPT)
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
        return self._keys.key(self._keys.shard_of(auth_id), f"authz:{auth_id}")

    def _deadlines(self, shard: int) -> str:
        return self._keys.key(shard, "authz:deadlines")

    def _state_key(self, kind: str, state: str) -> str:
        """``state`` or ``stateref``: the key of a state, by its digest, in the shard it names."""
        return self._keys.key(self._keys.shard_of(state), f"authz:{kind}:{state_digest(state)}")

    def _in_flight(self, record: AuthorizationRecord) -> str:
        return in_flight_key(self._keys, self._keys.shard_of(record.id), record.project)

    def _flow_key(self, flow_id: str) -> str:
        return self._keys.key(self._keys.shard_of(flow_id), f"authz:flow:{flow_id}")

    def _encode(self, record: AuthorizationRecord) -> str:
        data = record.model_dump(mode="json", exclude={"secrets"})
        secrets = record.secrets.model_dump(mode="json", exclude_none=True)
        if secrets:
            data["secrets"] = self._cipher.encrypt_json(secrets, aad=authorization_aad(record.id))
        return json.dumps(data)

    def _decode(self, raw: bytes | str) -> AuthorizationRecord:
        data = json.loads(raw)
        blob = data.pop("secrets", None)
        record = AuthorizationRecord.model_validate(data)
        if blob is None:
            return record
        secrets = self._cipher.decrypt_json(blob, aad=authorization_aad(record.id))
        return record.model_copy(update={"secrets": AuthorizationSecrets.model_validate(secrets)})

    async def create(self, record: AuthorizationRecord, *, state: str, ttl_seconds: int) -> None:
        encoded = self._encode(record)
        claim = {"authorization_id": record.id, "provider_id": record.provider_id, "record": encoded}
        expires = (record.state_expires_at or record.created_at).timestamp()
        in_flight = self._in_flight(record)
        shard = self._keys.shard_of(record.id)
        started = started_key(self._keys, shard, record.project, record.created_at)
        async with self._redis.pipeline(transaction=True) as pipe:  # id and state name one shard
            pipe.set(self._record_key(record.id), encoded, ex=self._ttl)
            pipe.set(self._state_key("state", state), json.dumps(claim), ex=ttl_seconds)
            pipe.set(self._state_key("stateref", state), record.id, ex=self._ttl)
            # A flow abandoned at the provider leaves the index when its state expires: prune those.
            pipe.zremrangebyscore(in_flight, "-inf", record.created_at.timestamp())
            pipe.zadd(in_flight, {record.id: expires})
            pipe.expire(in_flight, self._ttl)
            started = started_key(
                self._keys, self._keys.shard_of(record.id), record.project, record.created_at
            )
            pipe.hincrby(started, "started", 1)  # the overview's authorizations started, by hour
            pipe.expire(started, KEEP_COUNTS_SECONDS)
            await pipe.execute()

    async def get(self, authorization_id: str) -> AuthorizationRecord | None:
        if (done := self._done.get(authorization_id)) is not None:
            return done
        raw = await self._redis.get(self._record_key(authorization_id))
        return None if raw is None else self._remember(self._decode(raw))

    async def transition(
        self,
        expected: Stage,
        record: AuthorizationRecord,
        *,
        events: Sequence[Event] = (),
        flow_ttl_seconds: int | None = None,
    ) -> Transition:
        check_transition(expected, record.stage)
        shard = self._keys.shard_of(record.id)
        keys = [self._record_key(record.id), self._deadlines(shard), self._tokens.outbox.key_of(shard)]
        keys.append(self._in_flight(record))
        if record.flow_id is not None and flow_ttl_seconds is not None:
            keys.append(self._flow_key(record.flow_id))
        deadline = "" if record.deadline_at is None else record.deadline_at.timestamp()
        args: list[str | float | int] = [expected, self._encode(record), self._ttl, deadline, record.id]
        args += [flow_ttl_seconds or 0, *(item for e in events for item in Outbox.entry(e))]
        return self._outcome(record, await self._transition(keys=keys, args=args))

    async def claim(self, state: str, record: AuthorizationRecord) -> Transition | None:
        check_transition("consent", record.stage)
        assert record.deadline_at is not None  # a claim gives the exchange its deadline
        shard = self._keys.shard_of(record.id)
        keys = [self._record_key(record.id), self._deadlines(shard), self._in_flight(record)]
        keys.append(self._state_key("state", state))
        args: list[str | float | int] = ["consent", self._encode(record), self._ttl]
        args += [record.deadline_at.timestamp(), record.id]
        reply = await self._claim(keys=keys, args=args)
        return None if reply == [2] else self._outcome(record, reply)

    async def complete(
        self, expected: Stage, record: AuthorizationRecord, token: StoredToken, *, events: Sequence[Event]
    ) -> Transition:
        check_transition(expected, record.stage)
        plan = self._tokens.plan_put(
            record.user_id, record.provider_id, token, events=list(events), project=record.project
        )
        deadlines = self._deadlines(self._keys.shard_of(record.id))
        keys = [self._record_key(record.id), deadlines, self._in_flight(record), *plan.keys]
        args = [expected, self._encode(record), self._ttl, record.id, *plan.args]
        # The provider's token exists nowhere else (its code is spent): a failover must not drop it.
        reply = await through_outage(
            lambda: self._complete(keys=keys, args=args), what="completed_authorization"
        )
        outcome = self._outcome(record, reply)
        if outcome.applied:  # the token (a first one, or one of more scopes) replaced what was held
            await self._tokens.changed(plan.connection)
        return outcome

    def _outcome(self, record: AuthorizationRecord, reply: list[bytes | int]) -> Transition:
        """``{1}``: applied; ``{0, current}``: refused, the record as it is; ``{0}``: it is gone."""
        match reply:
            case [1]:
                return Transition(applied=True, record=self._remember(record))
            case [0, bytes() as current]:
                return Transition(applied=False, record=self._remember(self._decode(current)))
            case _:
                return Transition(applied=False, record=None)

    async def find_state(self, state: str) -> StateClaim | None:
        raw = await self._redis.get(self._state_key("state", state))
        if raw is None:
            return None
        data = json.loads(raw)
        record = self._decode(data["record"]) if "record" in data else None
        return StateClaim(data["authorization_id"], data["provider_id"], record)

    async def state_owner(self, state: str) -> str | None:
        raw = await self._redis.get(self._state_key("stateref", state))
        return None if raw is None else text(raw)

    async def peek_flow(self, flow_id: str) -> str | None:
        raw = await self._redis.get(self._flow_key(flow_id))
        return None if raw is None else text(raw)

    async def overdue(self, now: datetime, *, limit: int) -> list[str]:
        """Overdue ids of every shard (up to ``limit``, earliest first)."""
        async with self._redis.pipeline(transaction=False) as pipe:  # one round trip for all shards
            for shard in self._keys.all:
                pipe.zrangebyscore(
                    self._deadlines(shard), "-inf", now.timestamp(), start=0, num=limit, withscores=True
                )
            replies = await pipe.execute()
        found = [(float(score), text(member)) for raw in replies for member, score in cast(Scored, raw)]
        return [member for _, member in sorted(found)[:limit]]

    async def forget_deadline(self, authorization_id: str) -> None:
        await self._redis.zrem(self._deadlines(self._keys.shard_of(authorization_id)), authorization_id)
