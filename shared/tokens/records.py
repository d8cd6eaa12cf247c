"""What the token store writes: the write script, the connection metadata and the names its
keys and associated data are derived from (:mod:`shared.tokens.store` uses them)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from shared.contracts.common import DEFAULT_PROJECT

# KEYS: token, meta, the three indexes, schedule, outbox, refresh lock, in-flight marker,
# the set of connections needing re-authorization (in or out by the written status).
# ARGV: record, created_at (if new), index score, conn, due score ('' = unscheduled),
# lock owner to release ('' = none), in-flight marker to clear ('' = none), version the
# stored record must have ('' = any; else nothing is written and nil comes back), meta
# field count n, n field/value pairs, then event id/JSON pairs.
PUT_SCRIPT = """
if ARGV[8] ~= '' then
  local current = redis.call('GET', KEYS[1])
  if not current or redis.sha1hex(current) ~= ARGV[8] then
    return false
  end
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSETNX', KEYS[2], 'created_at', ARGV[2])
local n = tonumber(ARGV[9])
redis.call('HSET', KEYS[2], unpack(ARGV, 10, 9 + 2 * n))
for i = 3, 5 do
  redis.call('ZADD', KEYS[i], 'NX', ARGV[3], ARGV[4])
end
if ARGV[5] == '' then
  redis.call('ZREM', KEYS[6], ARGV[4])
else
  redis.call('ZADD', KEYS[6], ARGV[5], ARGV[4])
end
for i = 10 + 2 * n, #ARGV, 2 do
  redis.call('HSET', KEYS[7], ARGV[i], ARGV[i + 1])
end
if ARGV[6] ~= '' and redis.call('GET', KEYS[8]) == ARGV[6] then
  redis.call('DEL', KEYS[8])
end
if ARGV[7] ~= '' and redis.call('GET', KEYS[9]) == ARGV[7] then
  redis.call('DEL', KEYS[9])
end
if redis.call('HGET', KEYS[2], 'status') == 'reauthorization_required' then
  redis.call('SADD', KEYS[10], ARGV[4])
else
  redis.call('SREM', KEYS[10], ARGV[4])
end
return redis.call('HGET', KEYS[2], 'created_at')
"""


def version_of(record: bytes | str) -> str:
    """A stored record's version: the SHA-1 of its ciphertext, as Redis's ``redis.sha1hex`` gives it."""
    raw = record.encode() if isinstance(record, str) else record
    return hashlib.sha1(raw, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Connection:
    """Non-secret facts about a connection (what the admin API lists)."""

    id: str
    user_id: str
    provider_id: str
    provider_type: str
    scopes: list[str]
    status: str
    created_at: str
    updated_at: str
    expires_at: str | None
    project: str = DEFAULT_PROJECT
    refresh_failures: int = 0  # consecutive, since the last token written
    last_used_at: str | None = None  # when a tool last read it (shared/tokens/last_use.py), to the minute


@dataclass(frozen=True)
class PutPlan:
    """One token write as ``PUT_SCRIPT``'s keys and arguments, and the connection it writes."""

    keys: list[str]
    args: list[str | bytes | float | int]
    connection: Connection
    version: str  # the written record's version (see ``version_of``)


def token_aad(connection_id: str, user_id: str, provider_id: str, project: str = DEFAULT_PROJECT) -> bytes:
    """What a token record is bound to; the default project's as before projects (old records stay valid)."""
    aad = f"token\x00{connection_id}\x00{user_id}\x00{provider_id}"
    return (aad if project == DEFAULT_PROJECT else f"{aad}\x00{project}").encode()


def project_namespace(prefix: str, project: str) -> str:
    """The key prefix of a project's objects: ``prefix`` itself for the default project."""
    return prefix if project == DEFAULT_PROJECT else f"{prefix}:p:{project}"


def project_name(project: str, name: str) -> str:
    """A project's key ``name`` below the prefix: ``name`` itself for the default project, else
    ``p:<project>:<name>``."""
    return name if project == DEFAULT_PROJECT else f"p:{project}:{name}"


def user_key(user_id: str) -> str:
    return hashlib.sha256(user_id.encode()).hexdigest()[:32]


def meta_fields(meta: Connection) -> dict[str, str]:
    return {
        "project": meta.project,
        "user_id": meta.user_id,
        "provider_id": meta.provider_id,
        "provider_type": meta.provider_type,
        "scopes": json.dumps(meta.scopes),
        "status": meta.status,
        "updated_at": meta.updated_at,
        "expires_at": meta.expires_at or "",
        # A new token is a clean slate for the refresher's consecutive-failure count.
        "refresh_failures": "0",
    }
