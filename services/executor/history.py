"""The execution history in Redis, and the scheduled runs' due set (docs/scheduled-executions.md).

Keys (``<p>`` the configured prefix, ``<ns>`` the project's namespace: ``<p>`` for ``default``,
``<p>:p:<project>`` for another)::

    <ns>:exec:<id>                      an execution's record (JSON), expiring after the retention
    <ns>:exec:<id>:request              a pending scheduled run's request, encrypted (its input may be secret)
    <ns>:exec:<id>:started              set once when a scheduled run starts: a second start is refused
    <ns>:execs                          zset id -> created_at of the project's executions
    <ns>:execs:tool:<tool>              ... of one tool
    <ns>:execs:user:<sha>               ... of one user
    <ns>:execs:scheduled[:tool:<tool>]  ... of the scheduled ones (of one tool)
    <p>:scheduled:due                   zset "<project>/<id>" -> epoch seconds a run is due (leased)

Each function below names the keys of one step: a step touches one project's keys, or the due
set alone, never both at once. On a Redis Cluster ``<p>`` carries the hash tag
``{<prefix>:executions}`` (``Keyspace.grouped``), so a project's keys share one slot; on one
server the names are as above.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from services.executor import records
from services.executor.domain import Ran
from shared.contracts.common import utcnow
from shared.contracts.execution import ExecuteTool, ExecutionQuery, ExecutionRecord
from shared.runtime.config_tools import ExecutionLoggingConfig
from shared.runtime.crypto import Cipher
from shared.runtime.due import DueSet
from shared.runtime.held_reads import HeldReads
from shared.runtime.logging import get_logger
from shared.tokens.store import project_namespace

log = get_logger(__name__)

#: Writes a record (and the extra keys beside it) and lists it in its indexes, trimming each of
#: what is older than its life: one command where a pipeline of ten cost the executor ~0.2 ms of
#: Python per execution (encoding the commands, parsing each reply), atomic like the pipeline's
#: MULTI. KEYS: the record, the ``n`` extra keys, then the indexes. ARGV: the record's JSON, the
#: TTL, ``n``, the ``n`` extra values, then the id, its score, the cutoff and the indexes' life.
WRITE_SCRIPT = """
local ttl, n = ARGV[2], tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
for i = 1, n do
  redis.call('SET', KEYS[1 + i], ARGV[3 + i], 'EX', ttl)
end
local id, score, cutoff, life = ARGV[4 + n], ARGV[5 + n], ARGV[6 + n], ARGV[7 + n]
for i = 2 + n, #KEYS do
  redis.call('ZADD', KEYS[i], score, id)
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', cutoff)
  redis.call('EXPIRE', KEYS[i], life)
end
return 1
"""

DAY_S = 86_400
#: With a second filter, at most this many of the newest executions are looked through.
SCAN_LIMIT = 2_000


@dataclass(frozen=True)
class ExecutionKeys:
    record: str
    request: str
    started: str


@dataclass(frozen=True)
class Begun:
    """A claimed run as :meth:`ExecutionHistory.begin` found it."""

    record: ExecutionRecord | None
    first: bool
    request: ExecuteTool | None


def execution_keys(ns: str, execution_id: str) -> ExecutionKeys:
    """The keys of one execution."""
    base = f"{ns}:exec:{execution_id}"
    return ExecutionKeys(base, f"{base}:request", f"{base}:started")


def index_keys(ns: str, record: ExecutionRecord) -> list[str]:
    """The indexes a record is listed in."""
    keys = [f"{ns}:execs", f"{ns}:execs:tool:{record.tool_name}"]
    if record.user_id:
        keys.append(user_index(ns, record.user_id))
    if record.execution_type == "scheduled":
        keys += [f"{ns}:execs:scheduled", f"{ns}:execs:scheduled:tool:{record.tool_name}"]
    return keys


def user_index(ns: str, user_id: str) -> str:
    return f"{ns}:execs:user:{hashlib.sha256(user_id.encode()).hexdigest()[:24]}"


def query_index(ns: str, query: ExecutionQuery) -> tuple[str, ExecutionQuery]:
    """The index that answers most of ``query``, and what is left to filter by."""
    rest = query.model_copy(update={"execution_type": None, "tool_name": None, "user_id": None})
    if query.execution_type == "scheduled":
        tool = f":tool:{query.tool_name}" if query.tool_name else ""
        return f"{ns}:execs:scheduled{tool}", rest.model_copy(update={"user_id": query.user_id})
    rest = rest.model_copy(update={"execution_type": query.execution_type})
    if query.tool_name:
        return f"{ns}:execs:tool:{query.tool_name}", rest.model_copy(update={"user_id": query.user_id})
    if query.user_id:
        return user_index(ns, query.user_id), rest
    return f"{ns}:execs", rest


def due_key(prefix: str) -> str:
    return f"{prefix}:scheduled:due"


def due_member(project: str, execution_id: str) -> str:
    """A due set member; project ids hold no ``/`` (``shared.runtime.config.PROJECT_ID_PATTERN``)."""
    return f"{project}/{execution_id}"


def _matches(record: ExecutionRecord, rest: ExecutionQuery) -> bool:
    if rest.user_id and record.user_id != rest.user_id:
        return False
    if rest.status and record.status != rest.status:
        return False
    return not rest.execution_type or record.execution_type == rest.execution_type


class ExecutionHistory:
    """Records executions and keeps scheduled runs' requests and due set.

    Args:
        redis: An asyncio Redis client (bytes responses).
        cipher: Seals a pending run's request.
        config: ``execution_logging``.
        horizon_days: How far ahead a run may be scheduled (its record lives that long at most, plus
            the retention).
        prefix: Key prefix.
    """

    def __init__(
        self,
        redis: Redis,
        cipher: Cipher,
        config: ExecutionLoggingConfig,
        *,
        horizon_days: float,
        prefix: str = "vk",
    ) -> None:
        self._redis = redis
        self._cipher = cipher
        self.config = config
        self._p = prefix
        self._retention_s = int(config.retention_days * DAY_S)
        self._index_life_s = self._retention_s + int(horizon_days * DAY_S)
        self.due = DueSet(redis, due_key(prefix))
        self._write_script = redis.register_script(WRITE_SCRIPT)
        self._held = HeldReads(redis)

    def _ns(self, project: str) -> str:
        return project_namespace(self._p, project)

    async def ran(self, request: ExecuteTool, ran: Ran, started_at: datetime) -> None:
        """Record an immediate execution, when ``execution_logging.enabled``; never raises."""
        if not self.config.enabled:
            return
        try:
            await self._write(records.immediate(request, ran, started_at, utcnow(), self.config))
        except Exception as exc:  # the tool ran: its answer matters more than its record
            log.warning("history.not_recorded", error=type(exc).__name__, tool=ran.result.tool_name)

    async def schedule(self, record: ExecutionRecord, request: ExecuteTool, run_at: datetime) -> None:
        """Keep a pending run (record, sealed request), then make it due at ``run_at``."""
        keys = execution_keys(self._ns(record.project), record.id)
        ttl = int((run_at - utcnow()).total_seconds()) + self._retention_s
        sealed = self._cipher.encrypt(request.model_dump_json().encode(), aad=keys.request.encode())
        await self._write(record, ttl=ttl, extra={keys.request: sealed})
        await self.due.add(due_member(record.project, record.id), run_at.timestamp())

    async def _write(
        self, record: ExecutionRecord, *, ttl: int | None = None, extra: dict[str, str] | None = None
    ) -> None:
        ns = self._ns(record.project)
        ttl = ttl or self._retention_s
        score = datetime.fromisoformat(record.created_at).timestamp()
        cutoff = utcnow().timestamp() - self._index_life_s
        extra = extra or {}
        keys = [execution_keys(ns, record.id).record, *extra, *index_keys(ns, record)]
        values: list[str | int | float] = [record.model_dump_json(), ttl, len(extra), *extra.values()]
        await self._held.run(
            self._write_script, keys, [*values, record.id, score, cutoff, self._index_life_s]
        )

    async def update(self, record: ExecutionRecord) -> None:
        """Write a record again (its expiry kept)."""
        key = execution_keys(self._ns(record.project), record.id).record
        await self._redis.set(key, record.model_dump_json(), keepttl=True)

    async def finish(self, record: ExecutionRecord) -> None:
        """Write a finished scheduled run: kept for the retention from now, its request dropped."""
        keys = execution_keys(self._ns(record.project), record.id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.record, record.model_dump_json(), ex=self._retention_s)
            pipe.delete(keys.request)
            pipe.expire(keys.started, self._retention_s)
            await pipe.execute()

    async def begin(self, project: str, execution_id: str) -> Begun:
        """Read a claimed run and mark it started, in one round trip.

        ``first`` is False when it was already marked (by a replica that then stopped): it must
        not run again. ``request`` is its unsealed request, None when it is gone.
        """
        keys = execution_keys(self._ns(project), execution_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.record)
            pipe.set(keys.started, "1", nx=True, ex=self._index_life_s)
            pipe.get(keys.request)
            raw, first, sealed = await pipe.execute()
        record = None if raw is None else ExecutionRecord.model_validate_json(raw)
        request = None
        if sealed is not None:
            plain = self._cipher.decrypt(sealed, aad=keys.request.encode())
            request = ExecuteTool.model_validate_json(plain)
        return Begun(record, bool(first), request)

    async def get(self, project: str, execution_id: str) -> ExecutionRecord | None:
        raw = await self._redis.get(execution_keys(self._ns(project), execution_id).record)
        return None if raw is None else ExecutionRecord.model_validate_json(raw)

    async def page(self, query: ExecutionQuery) -> tuple[list[ExecutionRecord], int]:
        """One page of the project's executions, newest first, and how many match."""
        ns = self._ns(query.project)
        index, rest = query_index(ns, query)
        if not rest.user_id and not rest.execution_type and not rest.status:
            total = int(await self._redis.zcard(index))
            ids: list[Any] = await self._redis.zrevrange(index, query.offset, query.offset + query.limit - 1)
            return await self._load(ns, ids), total
        ids = list(await self._redis.zrevrange(index, 0, SCAN_LIMIT - 1))
        matched = [r for r in await self._load(ns, ids) if _matches(r, rest)]
        return matched[query.offset : query.offset + query.limit], len(matched)

    async def _load(self, ns: str, ids: Sequence[bytes | str]) -> list[ExecutionRecord]:
        if not ids:
            return []
        names = [i.decode() if isinstance(i, bytes) else i for i in ids]
        raws = await self._redis.mget([execution_keys(ns, i).record for i in names])
        return [ExecutionRecord.model_validate_json(raw) for raw in raws if raw is not None]
